"""Command-line values refused while the command line is read (orchestrator.commands.arguments):
one line ``lucas-abm: error: OPTION: ...`` naming the option and what it accepts, exit code 2,
nothing written, where each of these used to print a traceback, hang, or write where the user
did not mean (found by trying bad input on every sub-command)."""
from __future__ import annotations

from pathlib import Path

import pytest

from orchestrator.cli import main

ROOT = Path(__file__).resolve().parents[1]
SMOKE = str(ROOT / "configs" / "smoke.yaml")


def one_line_error(capsys, args: list[str]) -> str:
    capsys.readouterr()
    assert main(args) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1, captured.err
    return lines[0]


@pytest.mark.parametrize("args, line", [
    (["simulate", "--seed", "-1"], "--seed: must be an integer >= 0, got '-1'"),   # was numpy's ValueError
    (["granular", "--seed", "-1"], "--seed: must be an integer >= 0, got '-1'"),
    (["frictions", "--preset", "kratsios-10-quadratic", "--seed", "-1"], "--seed: must be an integer >= 0, got '-1'"),
    (["simulate", "--agents", "1e3"],                                  # was "invalid int value"
     "--agents: must be an integer, got '1e3' (number of agents N (>= 2; default 1200, or the "
     "population's count))"),
    (["simulate", "--beta", "x"], "--beta: must be a number, got 'x' (discount factor, in (0, 1))"),
    (["train", "--config", SMOKE, "--stop-after", "0"], "--stop-after: must be an integer >= 1, got '0'"),
    (["train", "--config", SMOKE, "--actors", "1", "--peer-timeout", "nan"],       # was an endless wait
     "--peer-timeout: must be a number of seconds in (0, 604800] (a week), got 'nan'"),
    (["evaluator", "--config", SMOKE, "--out", "x", "--replay-address", "localhost:1",   # waited on
      "--peer-timeout", "1e308"], "--peer-timeout: must be a number of seconds in (0, 604800] (a week), "
     "got '1e308'"),
    (["train", "--config", SMOKE, "--peer-timeout", "5"],                        # was silently ignored
     "--peer-timeout: must be left out without --actors (one process has no peers), got 5.0"),
    (["actor", "--config", SMOKE, "--out", "x", "--replay-address", "localhost:1", "--peer-timeout", "inf"],
     "--peer-timeout: must be a number of seconds in (0, 604800] (a week), got 'inf'"),
    (["train", "--config", SMOKE, "--set", "learner.hidden=[50,"],                 # was a YAML traceback
     "--set: must be KEY=VALUE with VALUE in YAML, got 'learner.hidden=[50,' (while parsing a flow node)"),
    (["train", "--config", SMOKE, "--set", "training.episodes.x=5"],               # was a TypeError
     "--set: must be a key inside a mapping, and training.episodes is a single value, got 'training.episodes.x=5'"),
    (["train", "--config", SMOKE, "--actors", "1", "--shards", "0"],               # was a KeyError after starting roles
     "--shards: must be an integer in [1, market.n_agents = 10], got 0"),
    (["learner", "--config", SMOKE, "--out", "run", "--replay-address", "localhost:1", "--shard", "-1"],
     "--shard: must be an integer in [0, 0], got -1"),                          # made the run directory first
    (["solve", "--states", "-0.04,0.05"],
     "--states: expected one argument (a value that starts with '-' goes as OPTION=VALUE)"),
    (["train"], "the following arguments are required: --config (see lucas-abm train --help)"),
    (["actor", "--config", SMOKE, "--out", "x", "--replay-address", "localhost:1", "--actor-id", "²"],
     "--actor-id: must be an integer >= 0, or auto, got '²'"),    # str.isdigit: a ValueError
    (["granular", "--fit-min-n", "-5"], "fit_min_n: must be an integer >= 2, got -5"),   # was accepted
    (["granular", "--sizes", "10,10"], "sizes: must be distinct agent counts, got [10, 10]"),
    (["simulate", "--policy", "noisy-equilibrium", "--noise", "1e308"],      # printed mean price nan
     "noise: must be in [0, 1e+06], got 1e+308"),
    (["simulate", "--population", str(ROOT / "examples" / "two_types.yaml"), "--dividend", "markov",
      "--states", "0.04,0.05", "--transition", "0.9,0.1,0.2,0.8", "--mechanism", "call-auction",
      "--policy", "noisy-equilibrium", "--noise", "-1"],                   # limit orders took it
     "noise: must be in [0, 1e+06], got -1.0"),
    (["simulate", "--population", str(ROOT / "examples" / "two_types.yaml"), "--dividend", "markov",
      "--states", "0.04,0.05", "--transition", "0.9,0.1,0.2,0.8", "--mechanism", "call-auction",
      "--policy", "random", "--spread", "5"], "spread: must be in [0, 1), got 5.0"),
    (["merton", "--gamma", "1.0000000001"],
     "gamma: must be positive with |gamma - 1| >= 1e-6, got 1.0000000001 (log utility has V = "
     "log(W)/rho + const, not this form)"),
])
def test_a_bad_value_is_one_line_naming_the_option(capsys, tmp_path, monkeypatch, args, line):
    monkeypatch.chdir(tmp_path)
    assert one_line_error(capsys, args) == f"lucas-abm: error: {line}"
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("command", [["simulate", "--steps", "2"], ["granular"], ["merton"],
                                     ["frictions", "--preset", "kratsios-10-quadratic"],
                                     ["train", "--config", SMOKE], ["report", "RUN"]])
def test_an_out_that_is_a_file_or_empty_is_refused_before_any_work(capsys, tmp_path, monkeypatch, command):
    """A file, or a path inside one, was a FileExistsError traceback (report, granular, frictions,
    merton; simulate after its whole run); ``--out ''`` (an unset shell variable) wrote into the
    working directory."""
    monkeypatch.chdir(tmp_path)
    Path("notes.txt").write_text("keep")
    args = [str(tmp_path) if a == "RUN" else a for a in command]
    for out, why in (("notes.txt", "a directory (new or existing), not a file or inside one"),
                     ("notes.txt/figures", "a directory (new or existing), not a file or inside one"),
                     ("", "a directory path")):
        assert one_line_error(capsys, [*args, "--out", out]) == f"lucas-abm: error: --out: must be {why}, got '{out}'"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]
    assert Path("notes.txt").read_text() == "keep"


def test_a_config_or_population_file_that_is_not_text_is_one_line(capsys, tmp_path):
    """Bytes that are not UTF-8 were a UnicodeDecodeError traceback in train, solve and replay-server."""
    binary = tmp_path / "run.yaml"
    binary.write_bytes(b"\xff\xfe\x00market")
    decode = "('utf-8' codec can't decode byte 0xff in position 0: invalid start byte)"
    assert one_line_error(capsys, ["train", "--config", str(binary), "--out", str(tmp_path / "r")]) == (
        f"lucas-abm: error: --config: must be valid YAML, got '{binary}' {decode}")
    assert one_line_error(capsys, ["solve", "--population", str(binary)]) == (
        f"lucas-abm: error: population: must be a valid YAML file, got '{binary}' {decode}")
    assert one_line_error(capsys, ["replay-server", "--config", str(binary), "--port", "8000"]) == (
        f"lucas-abm: error: config: must be valid YAML, got '{binary}' {decode}")


def test_a_size_this_machine_cannot_hold_is_one_line(capsys):
    """numpy's MemoryError, a traceback before: 10^9 periods (a 119 GiB series). 10^12 agents
    (8 TB of holdings alone) are now past the range."""
    line = one_line_error(capsys, ["simulate", "--agents", "10", "--steps", "1000000000"])
    assert line.startswith("lucas-abm: error: not enough memory for this command (Unable to allocate ")
    assert line.endswith("); ask for fewer agents, periods, paths or replay items")
    assert one_line_error(capsys, ["simulate", "--agents", "1000000000000", "--steps", "2"]) == (
        "lucas-abm: error: agents: must be an integer in [2, 1,000,000,000], got 1000000000000")


def test_more_actors_than_this_machines_memory_holds_are_refused_before_any_process(capsys, tmp_path):
    from lucas_abm.errors import ConfigError
    from orchestrator.launch import ROLE_MEMORY_GB, check_machine_holds

    check_machine_holds(actors=7, shards=1, available_gb=10 * ROLE_MEMORY_GB)   # 7 + 1 + 2 = 10
    with pytest.raises(ConfigError) as err:
        check_machine_holds(actors=8, shards=1, available_gb=10 * ROLE_MEMORY_GB)
    assert str(err.value) == ("--actors: must be an integer in [1, 7] on this machine, got 8 (11 role "
                              "processes of about 0.6 GB each; 6.0 GB of memory is available)")
    with pytest.raises(ConfigError, match=r"^--actors: must be left out on this machine"):
        check_machine_holds(actors=1, shards=1, available_gb=3 * ROLE_MEMORY_GB)
    out = tmp_path / "run"                       # was: 100,003 processes started, one by one
    line = one_line_error(capsys, ["train", "--config", SMOKE, "--actors", "100000", "--out", str(out)])
    assert line.startswith("lucas-abm: error: --actors: must be an integer in [1, ")
    assert "100003 role processes" in line and not out.exists()


def test_a_role_message_that_names_the_role_is_not_prefixed_twice(capsys):
    # "lucas-abm learner: learner: no replay server ..." (the actor's "actor 0:" is kept)
    from orchestrator.commands.role_options import exit_code_for

    assert exit_code_for(RuntimeError("learner: no replay server at x:1 for 3 s"), "learner") == 4
    assert exit_code_for(RuntimeError("actor 0: no replay server at x:1 for 3 s"), "actor") == 4
    assert capsys.readouterr().err.splitlines() == [
        "lucas-abm learner: no replay server at x:1 for 3 s",
        "lucas-abm actor: actor 0: no replay server at x:1 for 3 s"]


def test_a_single_agent_count_says_why_there_are_no_slopes(tmp_path, capsys):
    assert main(["granular", "--sizes", "100", "--periods", "20", "--size-draws", "2",
                 "--out", str(tmp_path)]) == 0
    assert "No slopes: a fit needs at least two agent counts." in capsys.readouterr().out


def test_an_episode_asked_for_twice_is_refused():
    from lucas_abm.errors import ConfigError
    from orchestrator.report import ReportRequest

    with pytest.raises(ConfigError, match=r"^--episodes: must be distinct evaluation episodes"):
        ReportRequest.parse_episodes("5,5")
    assert ReportRequest.parse_episodes("5,50") == (5, 50)


def test_a_huge_gamma_is_refused_without_warnings_first(capsys):
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        line = one_line_error(capsys, ["simulate", "--gamma", "1e308", "--steps", "2", "--backend", "numpy"])
    assert line.startswith("lucas-abm: error: gamma: must be small enough that the utility")


def test_output_into_a_closed_pipe_ends_quietly(tmp_path):
    """`lucas-abm simulate | head -1`: a BrokenPipeError traceback on stderr before."""
    import os
    import subprocess
    import sys

    read, write = os.pipe()
    os.close(read)        # the reader has left before the first line is written
    try:
        done = subprocess.run([sys.executable, "-m", "orchestrator.cli", "simulate", "--agents", "10",
                               "--steps", "2"], stdout=write, stderr=subprocess.PIPE, text=True,
                              cwd=tmp_path, env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=300)
    finally:
        os.close(write)
    assert done.returncode == 1
    assert done.stderr == ""
