"""The roles as processes on one machine: ``lucas-abm train --actors K`` (loopback).

Layout (``S`` learner shards, ``K`` actors; every arrow is a gRPC stream to the server)::

    replay-server ◀── experience ── actor 0 .. actor K-1
        │   ▲                            ▲
        │   └──── weights (S tables) ─── learner 0 (+ coordinator) .. learner S-1
        └──────── weights ─────────────▶ evaluator

The launcher starts the replay server, the learners, the actors and the evaluator as child
processes (``python -m orchestrator.cli ROLE ...``), records their pids in
``OUT/processes.json``, restarts any that dies before the run is done (at most
``max_restarts`` times per process: a killed actor rejoins, a killed learner resumes from its
last checkpoint, a killed server restores its last checkpoint; exit code 2, bad input, and 3,
diverged, stop the run instead, printing the role's one-line error) and, when learner 0 exits
with the summary written, waits for the evaluator and stops the rest. A stopped launcher
(SIGTERM, Ctrl-C) stops its children and exits with 128 + the signal's number; a killed one
(SIGKILL) cannot, so each child asks the kernel for SIGTERM when the launcher dies
(:func:`follow_launcher`), and ``--resume`` finds no role of the old launch still running.

CPU time. Every role keeps its own CPU seconds in ``OUT/cpu/ROLE.json`` (orchestrator.
cpu_record; the launcher passes the server ``--out``), and learner 0 writes their sum into
``summary.json``. The launcher also adds up the user + system CPU seconds of its children
exactly (restarted ones included: ``getrusage(RUSAGE_CHILDREN)`` counts every child it has
waited for) and keeps the running total over launches in ``OUT/cpu.json``, so a resumed run
adds to it. A finished run gets that total as ``summary.json``'s ``cpu_seconds``, the key the
one-process trainer writes (its own process time), and the roles' final
``cpu_seconds_by_role``. The CPU of a launcher that is killed with SIGKILL, and of its
children since it started, is not in ``cpu.json``.
"""
from __future__ import annotations

import json
import os
import resource
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import portpicker

from lucas_abm.errors import ConfigError
from orchestrator.atomic import write_json
from orchestrator.config import PEER_TIMEOUT_S
from orchestrator.cpu_record import role_cpu_seconds


@dataclass
class Child:
    role: str
    args: list[str]
    log_path: Path
    restarts: int = 0
    proc: subprocess.Popen | None = None
    finished: bool = False
    history: list = field(default_factory=list)

    def start(self) -> None:
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen([sys.executable, "-m", "orchestrator.cli", *self.args],
                                     stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                                     env={**os.environ, LAUNCHER_PID: str(os.getpid())})
        log.close()

    def last_line(self) -> str:
        """The last line of the child's log (a role's one-line error), '' if none."""
        try:
            lines = self.log_path.read_text(errors="replace").strip().splitlines()
        except FileNotFoundError:
            return ""
        return lines[-1] if lines else ""


LAUNCHER_PID = "LUCAS_ABM_LAUNCHER_PID"
PR_SET_PDEATHSIG = 1    # <linux/prctl.h>


def follow_launcher() -> None:
    """In a role the launcher started (``LUCAS_ABM_LAUNCHER_PID`` set): ask the kernel for
    SIGTERM when the launcher dies (``prctl(PR_SET_PDEATHSIG)``, Linux), so a launcher killed
    with SIGKILL, which cannot stop its children itself, leaves none running unsupervised:
    they would finish the run on their own and hold their role locks against ``--resume``.
    A role whose launcher died before the call stops at once. Elsewhere (compose, by hand,
    other systems) nothing changes."""
    launcher = os.environ.get(LAUNCHER_PID)
    if not launcher or not sys.platform.startswith("linux"):
        return
    import ctypes

    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    if os.getppid() != int(launcher):
        raise SystemExit(f"lucas-abm: the launcher of this role (pid {launcher}) has exited; not starting")


def role_commands(config_file: Path, out: Path, address: str, port: int, actors: int, shards: int,
                  peer_timeout: float, actor_args: tuple[str, ...] = ()) -> dict[str, list[str]]:
    """The command line of every process (also what docs/distributed.md and compose run)."""
    common = ["--config", str(config_file), "--out", str(out), "--replay-address", address,
              "--peer-timeout", str(peer_timeout)]
    sharding = ["--shards", str(shards)]
    commands = {"replay": ["replay-server", "--config", str(config_file), "--port", str(port),
                           "--checkpoint-dir", str(out / "replay-checkpoints"), "--out", str(out),
                           *sharding]}
    for s in range(shards):
        commands[f"learner-{s}"] = ["learner", *common, *sharding, "--shard", str(s)]
    for k in range(actors):
        commands[f"actor-{k}"] = ["actor", *common, *sharding, "--actor-id", str(k), *actor_args]
    commands["evaluator"] = ["evaluator", *common, *sharding]
    return commands


#: Resident memory of one role process (TensorFlow, TF-Agents and Reverb loaded): 0.67 GB
#: measured for an actor of configs/smoke.yaml; a lower bound, so that only a count this
#: machine certainly cannot hold is refused.
ROLE_MEMORY_GB = 0.6


def check_machine_holds(actors: int, shards: int, available_gb: float | None = None) -> None:
    """ConfigError naming ``--actors`` when the K + S + 2 role processes (actors, learner
    shards, the replay server, the evaluator) need more than this machine's available memory
    at :data:`ROLE_MEMORY_GB` each (``MemAvailable`` of /proc/meminfo; no check where that is
    not readable). ``train --actors 100000`` would otherwise start processes until the kernel
    ends them."""
    if available_gb is None:
        available_gb = _available_memory_gb()
        if available_gb is None:
            return
    most = int(available_gb / ROLE_MEMORY_GB) - shards - 2
    if actors > most:
        allowed = (f"an integer in [1, {most}] on this machine" if most >= 1 else
                   "left out on this machine (the one-process layout): not even one actor fits")
        raise ConfigError("--actors", allowed, actors,
                          detail=f"{actors + shards + 2} role processes of about {ROLE_MEMORY_GB:g} "
                                 f"GB each; {available_gb:.1f} GB of memory is available")


def _available_memory_gb() -> float | None:
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) / 2**20     # kB -> GB
    except (OSError, ValueError, IndexError):
        pass
    return None


class Launcher:
    """Starts, supervises and stops the processes of one run."""

    def __init__(self, config_file: Path, out: Path, actors: int, shards: int = 1,
                 peer_timeout: float = PEER_TIMEOUT_S, max_restarts: int = 5, port: int | None = None,
                 actor_args: tuple[str, ...] = ()):
        self.out = out
        self.port = port or portpicker.pick_unused_port()
        address = f"localhost:{self.port}"
        (out / "logs").mkdir(parents=True, exist_ok=True)
        self.children = {role: Child(role, args, out / "logs" / f"{role}.log")
                         for role, args in role_commands(config_file, out, address, self.port, actors,
                                                         shards, peer_timeout, actor_args).items()}
        self.max_restarts = max_restarts

    def _record(self) -> None:
        write_json(self.out / "processes.json",
                   {role: c.proc.pid for role, c in self.children.items() if c.proc is not None})

    def run(self, timeout_s: float | None = None) -> int:
        """Start everything and supervise until learner 0 finishes; 0 on success. Records the
        children's CPU seconds (module docstring)."""
        cpu_before, code = children_cpu_seconds(), None
        try:
            code = self._supervise(timeout_s)
        except Stopped as stop:     # its children are stopped by then (_supervise's finally)
            code = 128 + stop.signum
            print(f"lucas-abm train: {signal.Signals(stop.signum).name}: stopped the run's processes; "
                  "continue with --resume", file=sys.stderr, flush=True)
        finally:   # a stopped launcher records its children too
            self._record_cpu(children_cpu_seconds() - cpu_before, finished=code == 0)
        return code

    def _record_cpu(self, seconds: float, finished: bool) -> None:
        """Add this launch's children's CPU seconds to ``OUT/cpu.json`` and, for a finished run,
        to ``summary.json`` (both replaced atomically)."""
        path = self.out / "cpu.json"
        before = json.loads(path.read_text()) if path.is_file() else {"cpu_seconds": 0.0, "launches": 0}
        total = before["cpu_seconds"] + seconds
        write_json(path, {"cpu_seconds": total, "launches": before["launches"] + 1})
        summary = self.out / "summary.json"
        if finished and summary.is_file():
            write_json(summary, {**json.loads(summary.read_text()), "cpu_seconds": total,
                                 "cpu_seconds_by_role": role_cpu_seconds(self.out)})

    def _supervise(self, timeout_s: float | None) -> int:
        started = time.monotonic()
        for signum in (signal.SIGINT, signal.SIGTERM):   # a stopped launcher stops its children
            signal.signal(signum, _stop)
        for child in self.children.values():
            child.start()
        self._record()
        try:
            while True:
                time.sleep(0.2)
                learner = self.children["learner-0"]
                for role, child in self.children.items():
                    code = child.proc.poll()
                    if code is None or child.finished:
                        continue
                    if code == 0 and role != "replay":
                        child.finished = True
                        continue
                    if code == 0 and role == "replay" and learner.finished:
                        child.finished = True
                        continue
                    if code in (2, 3):   # bad input or a diverged run: restarting cannot help
                        print(f"lucas-abm train: {role} stopped with {describe(code)}: "
                              f"{child.last_line()} (log: {child.log_path}); stopping the run",
                              file=sys.stderr, flush=True)
                        return code
                    if child.restarts >= self.max_restarts:
                        print(f"lucas-abm train: {role} exited with {describe(code)} "
                              f"{child.restarts + 1} times; giving up (see {child.log_path})",
                              file=sys.stderr, flush=True)
                        return 4
                    child.restarts += 1
                    print(f"lucas-abm train: {role} exited with {describe(code)}; restarting "
                          f"({child.restarts}/{self.max_restarts})", file=sys.stderr, flush=True)
                    child.start()
                    self._record()
                if learner.finished:
                    self._wait_for("evaluator", 120)
                    return 0
                if timeout_s is not None and time.monotonic() - started > timeout_s:
                    print(f"lucas-abm train: run not finished after {timeout_s:g} s; stopping",
                          file=sys.stderr, flush=True)
                    return 5
        finally:
            self.stop()

    def _wait_for(self, role: str, timeout_s: float) -> None:
        child = self.children[role]
        try:
            child.proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            print(f"lucas-abm train: {role} still running {timeout_s:g} s after the stop; stopping it",
                  file=sys.stderr, flush=True)

    def stop(self) -> None:
        """SIGTERM to every child still running (the server last), then SIGKILL after 20 s."""
        order = [r for r in self.children if r != "replay"] + ["replay"]
        for role in order:
            proc = self.children[role].proc
            if proc is not None and proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()


def children_cpu_seconds() -> float:
    """User + system CPU seconds of every child this process has waited for."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


class Stopped(Exception):
    """The launcher got SIGINT or SIGTERM: :meth:`Launcher.run` stops the children and returns
    128 + signum, as shells report a command stopped by that signal."""

    def __init__(self, signum: int):
        super().__init__(signum)
        self.signum = signum


def _stop(signum, frame):
    raise Stopped(signum)


def describe(code: int) -> str:
    return f"signal {-code}" if code < 0 else f"code {code}"
