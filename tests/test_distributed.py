"""The roles as real processes on loopback (lucas-abm train --actors K): faults and sharding.

One supervised run on a tiny economy takes three kill -9s in turn: an actor mid-episode (it
rejoins at its next episode), the learner (it resumes from its last checkpoint) and the
replay server (it restores its last checkpoint). Every completed episode is then counted
exactly once (episodes 1..E in metrics.jsonl, each (actor, actor_episode) key once), and the
run ends with its summary. A dead peer gives a one-line message and exit code 4, not a hang.
A two-shard run shows agent-sharded learners (each owns its agents' networks).
"""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import portpicker
import pytest

from lucas_abm.errors import ConfigError
from orchestrator.config import load_config
from orchestrator.coordinator import read_rows

ROOT = Path(__file__).resolve().parents[1]
TINY = ["market.n_agents=4", "market.horizon=16", "replay.capacity=200", "replay.min_size=24",
        "replay.rate_limiter_timeout_ms=5000", "learner.batch_size=8", "learner.update_every=2",
        "learner.hidden=[16,16]", "training.checkpoint_interval=2", "training.eval_interval=4"]


def train_cmd(out, episodes, *extra, config="configs/thesis_cpu.yaml"):
    sets = sum([["--set", s] for s in TINY + [f"training.episodes={episodes}"]], [])
    return [sys.executable, "-m", "orchestrator.cli", "train", "--config", str(config),
            "--out", str(out), "--peer-timeout", "120", *sets, *extra]


def wait_until(predicate, what, proc, timeout=180):
    deadline = time.monotonic() + timeout
    while not predicate():
        assert proc.poll() is None, f"launcher exited ({proc.returncode}) while waiting for {what}"
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


def pid_of(out, role):
    return json.loads((out / "processes.json").read_text())[role]


def counted(out):
    return len(read_rows(out / "metrics.jsonl"))


def kill_and_wait_for_restart(out, role, proc):
    old = pid_of(out, role)
    os.kill(old, signal.SIGKILL)
    wait_until(lambda: pid_of(out, role) != old, f"{role} restart", proc, 60)


def test_killed_actor_learner_and_server_recover_and_count_each_episode_once(tmp_path):
    out = tmp_path / "run"
    episodes = 14
    proc = subprocess.Popen(train_cmd(out, episodes, "--actors", "1"), cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_until(lambda: counted(out) >= 2, "2 episodes", proc)
        actor_rows = len(read_rows(out / "actors" / "actor-0.jsonl"))
        time.sleep(0.3)                                       # into the next episode
        kill_and_wait_for_restart(out, "actor-0", proc)
        wait_until(lambda: (out / "checkpoints" / "latest").exists() and counted(out) >= 5,
                   "a checkpoint and 5 episodes", proc)
        kill_and_wait_for_restart(out, "learner-0", proc)
        wait_until(lambda: counted(out) >= 8, "8 episodes", proc)
        kill_and_wait_for_restart(out, "replay", proc)
        stdout, stderr = proc.communicate(timeout=600)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, stderr
    restarts = [line for line in stderr.splitlines() if " exited with " in line]
    assert [line.split(" exited with ")[0].rsplit(" ", 1)[1] for line in restarts] == \
        ["actor-0", "learner-0", "replay"], ("only the killed roles restarted, once each", stderr,
                                             (out / "logs" / "learner-0.log").read_text())
    assert all("exited with signal 9; restarting" in line for line in restarts)
    rows = read_rows(out / "metrics.jsonl")
    assert [r["episode"] for r in rows] == list(range(1, episodes + 1)), "every episode counted once"
    keys = [(r["actor"], r["actor_episode"]) for r in rows]
    assert len(set(keys)) == len(keys)
    actor_log = (out / "logs" / "actor-0.log").read_text()
    starts = [int(line.rsplit(" ", 1)[1]) for line in actor_log.splitlines() if "starting at its episode" in line]
    assert starts[0] == 0 and len(starts) >= 2 and starts[1] >= actor_rows   # rejoined, nothing replayed twice
    learner_log = (out / "logs" / "learner-0.log").read_text()
    assert "resumed from" in learner_log and "ckpt-0000" in learner_log
    server_starts = [line for line in (out / "logs" / "replay.log").read_text().splitlines()
                     if line.startswith("replay server: tables")]
    assert len(server_starts) == 2 and "experience (0 of" in server_starts[0]
    assert "experience (0 of" not in server_starts[1], "the restarted server restored its checkpoint"
    summary = json.loads((out / "summary.json").read_text())
    assert summary["episodes"] == episodes and summary["updates"] > 0
    # the CPU seconds of every process, the killed and restarted ones included: at least a
    # second, and at most every core busy for the run's wall time (+60 s: the processes start
    # before the learner's clock does)
    cpu = json.loads((out / "cpu.json").read_text())
    assert cpu["launches"] == 1 and summary["cpu_seconds"] == cpu["cpu_seconds"]
    assert 1.0 < summary["cpu_seconds"] <= (os.cpu_count() or 1) * summary["wall_seconds"] + 60
    # each role's own record (orchestrator/cpu_record.py): the killed ones started twice, and
    # their sum is at most the launcher's exact total and most of it (a killed or stopped
    # process loses its last 2 s of records, and what it spends after its last write)
    by_role = summary["cpu_seconds_by_role"]
    assert sorted(by_role) == ["actor-0", "evaluator", "learner-0", "replay"]
    assert by_role == {role: json.loads((out / "cpu" / f"{role}.json").read_text())["cpu_seconds"]
                       for role in by_role}
    assert all(seconds > 0.5 for seconds in by_role.values())
    for role in ("actor-0", "learner-0", "replay"):
        assert json.loads((out / "cpu" / f"{role}.json").read_text())["starts"] == 2
    assert 0.6 * summary["cpu_seconds"] <= sum(by_role.values()) <= summary["cpu_seconds"] + 0.5
    assert read_rows(out / "evaluation.jsonl")[-1]["episode"] == episodes

    # --resume: another config value is refused, naming the key; more episodes extend the run
    bad = subprocess.run(train_cmd(out, episodes, "--actors", "1", "--resume", "--set", "learner.batch_size=4"),
                         cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and "changed learner.batch_size" in bad.stderr


def alive(pid: int) -> bool:
    """The process exists and is not a zombie (a killed launcher's children are reparented, and
    their new parent need not reap them)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state not in ("Z", "X")


def lock_is_free(out: Path, role: str) -> bool:
    from orchestrator.role_lock import RoleLock

    try:
        with RoleLock(out, role):
            return True
    except ConfigError:
        return False


def test_a_killed_launcher_takes_its_roles_with_it_and_resume_finishes_the_run(tmp_path):
    """A launcher killed with SIGKILL cannot stop its children; each asks the kernel for SIGTERM
    when it dies (orchestrator.launch.follow_launcher). Before, they trained on unsupervised and
    held their role locks, so ``--resume`` stopped with the replay server's exit code 2. A role
    refused at start is named by the launcher with its own one-line error."""
    from orchestrator.role_lock import RoleLock

    out = tmp_path / "run"
    episodes = 8
    proc = subprocess.Popen(train_cmd(out, episodes, "--actors", "1"), cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_until(lambda: (out / "checkpoints" / "latest").exists(), "a checkpoint", proc)
        roles = json.loads((out / "processes.json").read_text())
        proc.kill()
        proc.wait(timeout=30)
        deadline = time.monotonic() + 30                   # a role's lock is free once its
        while (not all(lock_is_free(out, role) for role in roles)   # last thread has exited
               and time.monotonic() < deadline):
            time.sleep(0.2)
        assert not [role for role, pid in roles.items() if alive(pid)], "roles outlived the launcher"
        assert all(lock_is_free(out, role) for role in roles)
    finally:
        if proc.poll() is None:
            proc.kill()
    with RoleLock(out, "evaluator") as held:        # an evaluator of this run still running
        refused = subprocess.run(train_cmd(out, episodes, "--actors", "1", "--resume"), cwd=ROOT,
                                 capture_output=True, text=True, timeout=300)
    assert refused.returncode == 2, refused.stderr
    assert (f"lucas-abm train: evaluator stopped with code 2: lucas-abm: error: --out: must be a run "
            f"directory where no evaluator is running, got '{out}' (evaluator is running: pid "
            f"{os.getpid()} on {os.uname().nodename} holds {held.path}) (log: "
            f"{out / 'logs' / 'evaluator.log'}); stopping the run") in refused.stderr.splitlines()
    done = subprocess.run(train_cmd(out, episodes, "--actors", "1", "--resume"), cwd=ROOT,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    assert json.loads((out / "summary.json").read_text())["episodes"] == episodes
    assert [r["episode"] for r in read_rows(out / "metrics.jsonl")] == list(range(1, episodes + 1))
    assert "resumed from" in (out / "logs" / "learner-0.log").read_text()


def test_ctrl_c_to_the_launchers_process_group_stops_every_role_with_one_line_and_exit_130(tmp_path):
    """A terminal's Ctrl-C reaches the launcher and every role at once (one process group).
    The launcher stops the roles and says so, with the shells' 128 + signal; before, it died
    with a KeyboardInterrupt traceback (a SIGTERM ended it silently with 143)."""
    out = tmp_path / "run"
    proc = subprocess.Popen(train_cmd(out, 50, "--actors", "1"), cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        wait_until(lambda: (out / "checkpoints" / "latest").exists(), "a checkpoint", proc)
        roles = json.loads((out / "processes.json").read_text())
        os.killpg(proc.pid, signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, stderr
    assert stderr.strip().splitlines()[-1] == ("lucas-abm train: SIGINT: stopped the run's processes; "
                                               "continue with --resume")
    assert "Traceback" not in stderr and stdout == ""
    assert not [role for role, pid in roles.items() if alive(pid)]
    assert all(lock_is_free(out, role) for role in [*roles, "train"])
    assert json.loads((out / "cpu.json").read_text())["launches"] == 1


def test_dead_replay_server_gives_a_clear_message_and_exit_4(tmp_path):
    port = portpicker.pick_unused_port()
    config = tmp_path / "c.yaml"
    cfg = load_config(Path("configs/thesis_cpu.yaml"), TINY + ["training.episodes=2"])
    import yaml
    config.write_text(yaml.safe_dump(cfg.to_dict()))
    began = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "orchestrator.cli", "actor", "--config", str(config),
                           "--out", str(tmp_path / "run"), "--replay-address", f"localhost:{port}",
                           "--peer-timeout", "3"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 4
    assert f"lucas-abm actor: actor 0: no replay server at localhost:{port} for 3 s" in done.stderr
    assert time.monotonic() - began < 100


def test_two_agent_sharded_learners_train_their_own_agents(tmp_path):
    out = tmp_path / "sharded"
    # configs/thesis_cpu.yaml: independent weights (one network per agent), so each shard
    # owns whole networks
    assert load_config(Path("configs/thesis_cpu.yaml"), TINY).learner.weight_sharing == "independent"
    done = subprocess.run(train_cmd(out, 6, "--actors", "1", "--shards", "2"),
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    summary = json.loads((out / "summary.json").read_text())
    assert summary["episodes"] == 6
    import pickle
    for ckpts in ("checkpoints", "checkpoints-shard1"):
        latest = out / ckpts / (out / ckpts / "latest").read_text().strip()
        state = pickle.loads((latest / "state.pkl").read_bytes())
        assert state["updates"] > 0, f"{ckpts}: the shard's learner updated its networks"
    assert "stop published by learner 0" in (out / "logs" / "learner-1.log").read_text()


def test_sharding_needs_whole_weight_groups():
    from orchestrator.algorithms import check_sharding, shard_bounds

    assert [shard_bounds(10, 3, s) for s in range(3)] == [(0, 3), (3, 7), (7, 10)]
    shared = load_config(Path("configs/thesis_cpu_shared.yaml"), TINY)     # one shared network
    assert shared.learner.weight_sharing == "shared" and shared.groups == 1
    with pytest.raises(ConfigError, match="--shards"):
        check_sharding(shared, 2)
    independent = load_config(Path("configs/thesis_cpu.yaml"), TINY)   # one network per agent
    for shards in (2, 3, 4):
        check_sharding(independent, shards)


def test_a_two_type_population_trains_in_the_multi_process_layout(tmp_path):
    """configs/population_two_types_cpu.yaml (two agents per type) as separate processes: the
    learner updates both types' networks, the run records the types' own gammas, and the
    evaluator's per-type holdings conserve the supply. (Sharding a population with shared
    weights is refused with a clear error: test_sharding_needs_whole_weight_groups.)"""
    import yaml

    out, config = tmp_path / "two_types", tmp_path / "two_types.yaml"
    raw = yaml.safe_load((ROOT / "configs" / "population_two_types_cpu.yaml").read_text())
    for kind in raw["population"]:
        kind["count"] = 2
    config.write_text(yaml.safe_dump(raw))
    done = subprocess.run(train_cmd(out, 4, "--actors", "1", config=config),
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert json.loads((out / "summary.json").read_text())["episodes"] == 4
    types = json.loads((out / "population.json").read_text())
    assert [t["gamma"] for t in types["types"]] == [5.0, 1.0]
    rows = read_rows(out / "evaluation.jsonl")
    episodes = [r["episode"] for r in rows]   # the evaluator takes the latest checkpoint it sees
    assert episodes and episodes == sorted(set(episodes)) and 1 <= episodes[0] and episodes[-1] <= 4
    for row in rows:   # shares and bonds per unit of supply: sum 1 and 0 whatever was traded
        assert row["shares[cautious]"] + row["shares[bold]"] == pytest.approx(1.0, abs=1e-9)
        assert row["bonds[cautious]"] + row["bonds[bold]"] == pytest.approx(0.0, abs=1e-9)
    import pickle
    latest = out / "checkpoints" / (out / "checkpoints" / "latest").read_text().strip()
    assert pickle.loads((latest / "state.pkl").read_bytes())["updates"] > 0


def test_roles_started_by_hand_record_their_cpu_seconds(tmp_path):
    """The roles as compose runs them, with no launcher: the server, learner, actor and
    evaluator each record their CPU seconds (orchestrator/cpu_record.py) and learner 0 writes
    their sum into summary.json; the files, final once every role has exited, only grow."""
    import yaml

    out, config = tmp_path / "by_hand", tmp_path / "c.yaml"
    config.write_text(yaml.safe_dump(load_config(Path("configs/thesis_cpu_shared.yaml"),
                                                 TINY + ["training.episodes=4"]).to_dict()))
    port = portpicker.pick_unused_port()
    role = [sys.executable, "-m", "orchestrator.cli"]
    common = ["--config", str(config), "--out", str(out), "--replay-address", f"localhost:{port}",
              "--peer-timeout", "120"]
    server = subprocess.Popen(role + ["replay-server", "--config", str(config), "--port", str(port),
                                      "--out", str(out)], cwd=ROOT, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    others = [subprocess.Popen(role + [name, *common], cwd=ROOT, stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE, text=True)
              for name in ("learner", "actor", "evaluator")]
    try:
        for proc in others:
            assert proc.wait(timeout=300) == 0, proc.stderr.read()
    finally:
        for proc in others + [server]:
            if proc.poll() is None:
                proc.kill()
            proc.wait()
    summary = json.loads((out / "summary.json").read_text())
    by_role = summary["cpu_seconds_by_role"]
    assert sorted(by_role) == ["actor-0", "evaluator", "learner-0", "replay"]
    assert summary["cpu_seconds"] == pytest.approx(sum(by_role.values()), rel=1e-12)
    assert all(seconds > 0.5 for seconds in by_role.values())
    for name, seconds in by_role.items():
        final = json.loads((out / "cpu" / f"{name}.json").read_text())
        assert final["starts"] == 1 and final["cpu_seconds"] >= seconds
    assert summary["cpu_seconds"] <= (os.cpu_count() or 1) * summary["wall_seconds"] + 60
    assert not (out / "cpu.json").exists()   # the launcher's file: no launcher here
