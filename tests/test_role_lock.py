"""One process per role name in a run directory (orchestrator/role_lock.py).

The lock is a real ``flock`` on a real file; the roles are the real CLI commands. That a
killed role takes its lock again when restarted is shown by test_distributed's kill-and-restart
run, and that each role takes it in a full run by its hand-started roles test.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from lucas_abm.errors import ConfigError
from orchestrator.role_lock import RoleLock

ROOT = Path(__file__).resolve().parents[1]


def test_a_second_holder_is_refused_with_one_line_naming_the_first_until_it_lets_go(tmp_path):
    with RoleLock(tmp_path, "evaluator") as first:
        assert first.path.read_text() == f"pid {os.getpid()} on {os.uname().nodename}\n"
        with pytest.raises(ConfigError) as refused:
            with RoleLock(tmp_path, "evaluator"):
                pass
        assert str(refused.value) == (
            f"--out: must be a run directory where no evaluator is running, got '{tmp_path}' "
            f"(evaluator is running: pid {os.getpid()} on {os.uname().nodename} holds {first.path})")
        with RoleLock(tmp_path, "actor-0", "--actor-id", "a number no running actor has", 0):
            pass                                                      # another name: no conflict
        assert first.path.read_text().startswith(f"pid {os.getpid()} ")   # the refusal wrote nothing
    with RoleLock(tmp_path, "evaluator"):                             # let go: free again
        pass


def test_a_killed_holder_frees_the_lock_at_once(tmp_path):
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time; from orchestrator.role_lock import RoleLock\n"
                               f"with RoleLock({str(tmp_path)!r}, 'actor-0'):\n"
                               "    print('held', flush=True); time.sleep(600)"],
        cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(ConfigError, match=rf"actor-0 is running: pid {holder.pid} on "):
            with RoleLock(tmp_path, "actor-0", "--actor-id", "a number no running actor has", 0):
                pass
    finally:
        os.kill(holder.pid, signal.SIGKILL)
        holder.wait(timeout=30)
    with RoleLock(tmp_path, "actor-0") as lock:                       # no stale lock to clear
        assert lock.path.read_text().startswith(f"pid {os.getpid()} ")


def test_every_role_command_refuses_a_name_that_is_running_before_it_waits_for_any_peer(tmp_path):
    """Two ``actor-0`` would log the same episode keys (the coordinator drops the second's
    episodes); two evaluators every evaluation twice. Each role command stops with exit 2 and
    one line, before it waits for the replay server (there is none: --peer-timeout 120)."""
    out = tmp_path / "run"
    common = ["--config", "configs/smoke.yaml", "--out", str(out), "--replay-address", "localhost:1",
              "--peer-timeout", "120"]
    cases = {"actor-0": (["actor", *common, "--actor-id", "0"], "--actor-id: must be a number no "
                                                                "running actor of this run has, got 0"),
             "learner-0": (["learner", *common, "--shard", "0"], "--shard: must be a shard no "
                                                                 "running learner of this run has, got 0"),
             "evaluator": (["evaluator", *common], "--out: must be a run directory where no "
                                                   f"evaluator is running, got '{out}'"),
             "replay": (["replay-server", "--config", "configs/smoke.yaml", "--port", "1",
                         "--out", str(out)], "--out: must be a run directory where no replay server is "
                                             f"running, got '{out}'")}
    locks = [RoleLock(out, role) for role in cases]
    for lock in locks:
        lock.__enter__()
    try:
        began = time.monotonic()
        procs = {role: subprocess.Popen([sys.executable, "-m", "orchestrator.cli", *argv], cwd=ROOT,
                                        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                 for role, (argv, _) in cases.items()}
        for role, proc in procs.items():
            _, stderr = proc.communicate(timeout=120)
            lines = stderr.strip().splitlines()
            assert proc.returncode == 2 and len(lines) == 1, stderr
            assert lines[0] == (f"lucas-abm: error: {cases[role][1]} ({role} is running: pid "
                                f"{os.getpid()} on {os.uname().nodename} holds {out / 'locks' / role}.lock)")
        assert time.monotonic() - began < 100
        assert not (out / "cpu").exists()     # refused before the CPU record or anything else
    finally:
        for lock in locks:
            lock.__exit__(None, None, None)


def test_a_second_train_on_a_live_run_is_refused_before_it_writes_anything(tmp_path):
    """A second ``train --resume`` (one process, or a launcher with ``--actors``) on a run whose
    trainer is alive stops with exit 2 and one line, and leaves the run's files untouched: the
    launcher used to rewrite config.yaml, provenance.json and processes.json before its roles
    were refused, and two one-process trainers would both have written checkpoints."""
    import yaml

    from orchestrator.config import load_config

    out = tmp_path / "run"
    out.mkdir()
    files = {"config.yaml": yaml.safe_dump(load_config("configs/smoke.yaml").to_dict(), sort_keys=False),
             "provenance.json": '{"written by": "the live trainer"}\n',
             "processes.json": '{"written by": "the live launcher"}\n'}
    for name, text in files.items():
        (out / name).write_text(text)
    with RoleLock(out, "train") as live:
        for extra in ([], ["--actors", "1"]):
            proc = subprocess.run([sys.executable, "-m", "orchestrator.cli", "train", "--config",
                                   "configs/smoke.yaml", "--out", str(out), "--resume", "--no-progress",
                                   *extra], cwd=ROOT, capture_output=True, text=True, timeout=300)
            lines = proc.stderr.strip().splitlines()
            assert proc.returncode == 2 and len(lines) == 1, proc.stderr
            assert lines[0] == (f"lucas-abm: error: --out: must be a run directory no other lucas-abm "
                                f"train is using, got '{out}' (train is running: pid {os.getpid()} on "
                                f"{os.uname().nodename} holds {live.path})")
    assert {name: (out / name).read_text() for name in files} == files
    assert sorted(p.name for p in out.iterdir()) == ["config.yaml", "locks", "processes.json",
                                                     "provenance.json"]
