"""Each role's CPU seconds, kept in the run directory: ``OUT/cpu/ROLE.json``.

A role process (``learner-S``, ``actor-K``, ``evaluator``, and ``replay`` when the server is
given ``--out``), however it was started (``train --actors K``, ``docker compose up`` or by
hand), records the user + system CPU seconds of its own process, all threads
(``time.process_time()``, which counts from the process's start, imports included), in

    OUT/cpu/ROLE.json = {"cpu_seconds": base + process_time(), "starts": n}

every ``PERIOD_S`` seconds from a background thread and once more when the role returns.
``base`` is what the file held when the process started, so a restarted role (compose's
``restart: on-failure``, the launcher's restarts, ``--resume``) adds to what its earlier
processes used. A role stopped by a signal loses at most its last ``PERIOD_S`` seconds, and
every process what it spends after its last write (interpreter and TensorFlow shutdown): in a
14-episode ``train --actors 1`` run of 4 agents the roles recorded 28.3 of the 31.6 CPU
seconds the launcher measured. No signal handler is installed, so SIGTERM still stops a role
at once (a Python handler would never run while the replay server waits in C++). One process
per role name at a time: each role holds its lock first (orchestrator.role_lock).

Learner 0 writes the sum over ``OUT/cpu/*.json`` into ``summary.json`` as ``cpu_seconds``,
with ``cpu_seconds_by_role``, when it finishes the run; the other roles are still stopping
then, so the files (final once every role has exited) can hold a few seconds more. The
launcher of ``train --actors K`` replaces ``cpu_seconds`` after its children exit by their
exact total from ``getrusage`` (orchestrator.launch).
"""
from __future__ import annotations

import json
import threading
import time
from pathlib import Path

from orchestrator.atomic import write_json

PERIOD_S = 2.0


def cpu_dir(out: Path) -> Path:
    return Path(out) / "cpu"


class CpuRecord:
    """Keeps ``OUT/cpu/ROLE.json`` up to date while a role runs (a context manager)."""

    def __init__(self, out: Path, role: str, period_s: float = PERIOD_S):
        self.path = cpu_dir(out) / f"{role}.json"
        self.period_s = float(period_s)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name=f"cpu-record-{role}", daemon=True)
        before = _read(self.path)
        self.base = before.get("cpu_seconds", 0.0)
        self.starts = before.get("starts", 0) + 1

    def write(self) -> float:
        """Record base + this process's CPU seconds now; returns the recorded total."""
        with self._lock:
            total = self.base + time.process_time()
            write_json(self.path, {"cpu_seconds": total, "starts": self.starts})
            return total

    def _loop(self) -> None:
        while not self._stop.wait(self.period_s):
            self.write()

    def __enter__(self) -> "CpuRecord":
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.write()
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self.write()


def role_cpu_seconds(out: Path) -> dict[str, float]:
    """{role: CPU seconds} from ``OUT/cpu/*.json`` (empty when no role recorded any)."""
    records = {p.stem: _read(p) for p in sorted(cpu_dir(out).glob("*.json"))}
    return {role: r["cpu_seconds"] for role, r in records.items() if "cpu_seconds" in r}


def cpu_summary(out: Path) -> dict:
    """``cpu_seconds`` (the roles' sum) and ``cpu_seconds_by_role``, for summary.json."""
    by_role = role_cpu_seconds(out)
    return {"cpu_seconds": sum(by_role.values()), "cpu_seconds_by_role": by_role} if by_role else {}


def _read(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return {}
