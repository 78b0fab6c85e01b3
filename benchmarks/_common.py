"""Helpers shared by the benchmark scripts: the machine's load, and one timed child process.

A training run is timed from outside, as a child process: wall seconds, and CPU seconds of the
child and its threads (``resource.getrusage(RUSAGE_CHILDREN)`` before and after, user + system),
which other processes' load does not inflate, with the 1-minute load average at start and end.
"""
from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable, Sequence

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))   # the repository, for orchestrator

from orchestrator import atomic  # noqa: E402
from orchestrator.launch import children_cpu_seconds  # noqa: E402  (user + system CPU of waited-for children)


def load_average() -> float:
    """The 1-minute load average (number of runnable processes, averaged)."""
    return os.getloadavg()[0]


def timed_process(command: Sequence[str], log_path: Path, poll: Callable[[], None] | None = None,
                  poll_seconds: float = 5.0, nice: int = 0, cwd: Path | None = None) -> dict:
    """Run ``command`` to completion (stdout and stderr to ``log_path``), calling ``poll`` every
    ``poll_seconds`` while it runs; return its exit code, wall and CPU seconds and the load."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    load_start, cpu_start, start = load_average(), children_cpu_seconds(), time.monotonic()
    with open(log_path, "w") as log:
        child = subprocess.Popen(list(command), stdout=log, stderr=subprocess.STDOUT, cwd=cwd,
                                 preexec_fn=(lambda: os.nice(nice)) if nice else None)
        while True:
            try:
                code = child.wait(timeout=poll_seconds)
                break
            except subprocess.TimeoutExpired:
                if poll is not None:
                    poll()
    return {"returncode": code, "wall_seconds": time.monotonic() - start,
            "cpu_seconds": children_cpu_seconds() - cpu_start, "nice": nice,
            "load_average_1min": {"start": load_start, "end": load_average()},
            "command": list(command)}


def write_json(path: Path, data: dict) -> None:
    """``data`` to ``path`` (its folder made if needed), replaced atomically (orchestrator/atomic.py)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic.write_json(path, data)
