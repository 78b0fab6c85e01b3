"""Every run directory says what made it (``provenance.json``); a failed start leaves no directory.

One tiny real training run (4 agents, 2 episodes of 5 steps, resumed for a third), its report and
a simulation, all through the ``lucas-abm`` entry point; the versions in each record are checked
against the installed distributions' metadata and the commit against ``git rev-parse HEAD``.
"""
from __future__ import annotations

import json
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest
import yaml

from lucas_abm import __version__
from orchestrator.cli import main
from orchestrator.provenance import LIBRARIES

ROOT = Path(__file__).resolve().parent.parent
TINY = ["--config", str(ROOT / "configs/thesis_cpu.yaml"), "--seed", "0", "--no-progress",
        "--set", "market.n_agents=4", "--set", "market.horizon=5", "--set", "training.episodes=3",
        "--set", "training.eval_interval=1", "--set", "training.checkpoint_interval=1",
        "--set", "replay.capacity=50", "--set", "replay.min_size=4", "--set", "learner.hidden=[8]"]


def _record(directory: Path) -> dict:
    return json.loads((directory / "provenance.json").read_text())


def _check_common(record: dict, argv: list[str]) -> None:
    assert record["package"] == "lucas-abm" and record["version"] == __version__
    for name in ("tensorflow", "tf-agents", "dm-reverb", "numpy"):
        assert record["libraries"][name] == metadata.version(name)
    assert set(LIBRARIES) <= set(record["libraries"])
    assert record["python"] == ".".join(map(str, sys.version_info[:3]))
    assert record["command"] == argv
    if (ROOT / ".git").exists():
        head = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "HEAD"], capture_output=True,
                              text=True, check=True).stdout.strip()
        assert record["git"]["commit"] == head and isinstance(record["git"]["dirty"], bool)


def _cli(monkeypatch, argv: list[str]) -> int:
    monkeypatch.setattr(sys, "argv", argv)
    return main(argv[1:])


def test_train_resume_and_report_record_what_made_them(tmp_path, monkeypatch, capsys):
    out = tmp_path / "run"
    first = ["lucas-abm", "train", *TINY, "--out", str(out), "--stop-after", "2"]
    assert _cli(monkeypatch, first) == 0
    record = _record(out)
    _check_common(record, first)
    # the resolved config: the same dictionary the run saved as config.yaml, overrides applied
    assert record["config"] == yaml.safe_load((out / "config.yaml").read_text())
    assert record["config"]["market"]["n_agents"] == 4 and "previous" not in record

    again = ["lucas-abm", "train", *TINY, "--out", str(out), "--resume"]
    assert _cli(monkeypatch, again) == 0
    resumed = _record(out)
    _check_common(resumed, again)
    assert [r["command"] for r in resumed["previous"]] == [first]   # the first invocation kept
    # replaced in one step (orchestrator.atomic): a write that fails before the rename leaves
    # the record as it was, and no temporary beside it
    from orchestrator import atomic
    from orchestrator.provenance import write_provenance

    before = (out / "provenance.json").read_text()

    def fail(*_):
        raise OSError("disk full")

    monkeypatch.setattr(atomic.os, "replace", fail)
    with pytest.raises(OSError, match="disk full"):
        write_provenance(out, {"market": {}}, ["lucas-abm", "train"])
    monkeypatch.undo()
    assert (out / "provenance.json").read_text() == before and not list(out.glob(".*.tmp"))

    report = ["lucas-abm", "report", str(out)]
    assert _cli(monkeypatch, report) == 0
    rec = _record(out / "report")
    _check_common(rec, report)
    assert rec["config"]["run_dir"] == str(out)
    capsys.readouterr()


def test_simulate_records_its_resolved_config(tmp_path, monkeypatch, capsys):
    out = tmp_path / "sim"
    argv = ["lucas-abm", "simulate", "--agents", "10", "--steps", "3", "--out", str(out), "--json"]
    assert _cli(monkeypatch, argv) == 0
    record = _record(out)
    _check_common(record, argv)
    summary = json.loads(capsys.readouterr().out)
    assert record["config"] == json.loads(json.dumps(summary["config"]))
    assert record["config"]["agents"] == 10 and record["config"]["steps"] == 3


@pytest.mark.parametrize("argv", [
    ["train", "--config", str(ROOT / "configs/thesis_cpu.yaml"), "--set", "economy.beta=2"],
    ["simulate", "--agents", "1"],
    ["simulate", "--mechanism", "no-such-mechanism"],
])
def test_a_command_refused_before_work_leaves_no_directory(tmp_path, capsys, argv):
    out = tmp_path / "never"
    assert main(argv + ["--out", str(out)]) == 2
    assert "lucas-abm: error:" in capsys.readouterr().err
    assert not out.exists()


def test_report_refused_before_work_writes_nothing(tmp_path, capsys):
    out = tmp_path / "never"
    assert main(["report", str(tmp_path / "no-run"), "--out", str(out)]) == 2
    assert not out.exists()


def test_train_out_naming_a_file_is_a_one_line_error(tmp_path, capsys):
    f = tmp_path / "file.txt"
    f.write_text("x")
    assert main(["train", "--config", str(ROOT / "configs/thesis_cpu.yaml"), "--out", str(f)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("lucas-abm: error: --out: must be a directory")
    assert f.read_text() == "x"


def test_version_flag(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["--version"])
    assert exit_.value.code == 0
    assert capsys.readouterr().out.strip() == f"lucas-abm {__version__}"
