"""Timing helpers shared by ``learner_throughput.py`` and ``ac_throughput.py``: methods timed in
alternation, one training step each in turn, and a description of the machine they ran on.
"""
from __future__ import annotations

import os
import platform
import time
from typing import TYPE_CHECKING, Callable

import numpy as np
import tensorflow as tf
import tf_agents

if TYPE_CHECKING:   # any config with warmup, repeats and steps; imported only for the annotations
    from learner_throughput import BenchmarkConfig


def interleaved(methods: dict[str, Callable[[int], None]], cfg: BenchmarkConfig,
                after_warmup: Callable[[], None] = lambda: None
                ) -> tuple[dict[str, list[float]], dict[str, list[float]]]:
    """Warm every method up, then time them in alternation, one training step of each in
    turn (so that load from other processes hits all alike). Returns, for every method, the
    mean wall-clock seconds per step of each of ``cfg.repeats`` blocks of ``cfg.steps``
    steps, and the same in CPU seconds of this process (all its threads): the work done,
    which other processes' load does not inflate."""
    for step in methods.values():
        for i in range(cfg.warmup + 1):   # the first call traces
            step(i)
    after_warmup()
    wall: dict[str, list[float]] = {name: [] for name in methods}
    cpu: dict[str, list[float]] = {name: [] for name in methods}
    for rep in range(cfg.repeats):
        spent = dict.fromkeys(methods, 0.0)
        spent_cpu = dict.fromkeys(methods, 0.0)
        for i in range(cfg.steps):
            for name, step in methods.items():
                start, start_cpu = time.perf_counter(), time.process_time()
                step(rep * cfg.steps + i)
                spent[name] += time.perf_counter() - start
                spent_cpu[name] += time.process_time() - start_cpu
        for name in methods:
            wall[name].append(spent[name] / cfg.steps)
            cpu[name].append(spent_cpu[name] / cfg.steps)
    return wall, cpu


def machine_info() -> dict:
    cpu_model = platform.processor() or ""
    try:
        with open("/proc/cpuinfo") as f:
            cpu_model = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")),
                             cpu_model)
    except OSError:
        pass
    gpus = [d.name for d in tf.config.list_physical_devices("GPU")]
    return {
        "cpu_model": cpu_model,
        "cpu_cores": os.cpu_count(),
        "cores_available": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "gpus": gpus,
        "device": "GPU:0" if gpus else "CPU",
        "python": platform.python_version(),
        "tensorflow": tf.__version__,
        "tf_agents": tf_agents.__version__,
        "numpy": np.__version__,
        "platform": platform.platform(),
    }
