"""``train(config)``: the ``lucas-abm train`` command as a Python function.

The other commands' Python counterparts need no wrapper and are exported from the package
top level: :func:`lucas_abm.solve_equilibrium` (``solve``), :class:`lucas_abm.SimulationConfig`
with :func:`lucas_abm.run_simulation` (``simulate``), and :class:`lucas_abm.LucasMarket` (a
market stepped one period at a time).
"""
from __future__ import annotations

import copy
import tempfile
from pathlib import Path
from typing import Any, Sequence


def train(config: Any, out_dir: str | Path | None = None, *, overrides: Sequence[str] = (),
          seed: int | None = None, resume: bool = False, progress: bool = False,
          stop_after_episodes: int | None = None) -> dict:
    """Train the agents as ``lucas-abm train`` does and return the run's summary dictionary.

    ``config`` is a YAML file's path, a dictionary laid out as the config files are (sections
    ``economy``, ``market``, ``actions``, ``learner``, ``exploration``, ``replay``,
    ``training``), or an ``orchestrator.config.TrainConfig``. ``overrides`` are
    ``"section.key=value"`` strings as for ``--set`` and ``seed`` sets ``training.seed``
    (both ignored for a ``TrainConfig``, which is already resolved). The run is written to
    ``out_dir`` (``summary.json``, metrics, evaluation episodes, checkpoints and
    ``provenance.json``); with ``out_dir=None`` it goes to a temporary directory that is
    deleted on return. Bad input raises :class:`lucas_abm.errors.ConfigError` before
    TensorFlow is imported. The summary holds ``converged``, ``episodes_to_converge``, the
    number of ``evaluations`` and the final evaluation's prices and volumes (see
    ``orchestrator.convergence``); a run stopped before its first evaluation has no prices.
    """
    from lucas_abm.errors import ConfigError, check_int
    from orchestrator.config import (TrainConfig, apply_overrides, config_from_dict,
                                     load_config)

    if not isinstance(config, (TrainConfig, dict, str, Path)):
        raise ConfigError("config", "a YAML file's path, a dict laid out as the config files, "
                          "or a TrainConfig", config)
    if out_dir is not None and not isinstance(out_dir, (str, Path)):
        raise ConfigError("out_dir", "a directory path (str or Path), or None for a temporary one",
                          out_dir)
    if seed is not None:
        check_int("seed", seed, 0)
    if stop_after_episodes is not None:   # 0 or "a" used to train one episode, or fail after it
        check_int("stop_after_episodes", stop_after_episodes, 1)
    if isinstance(config, TrainConfig):
        resolved = config
    elif isinstance(config, dict):
        raw = apply_overrides(copy.deepcopy(config), list(overrides))
        if seed is not None:
            raw.setdefault("training", {})["seed"] = seed
        resolved = config_from_dict(raw)
    else:
        resolved = load_config(config, list(overrides), seed)
    if out_dir is None:
        with tempfile.TemporaryDirectory(prefix="lucas-abm-train-") as tmp:
            return _run(resolved, Path(tmp) / "run", False, progress, stop_after_episodes)
    return _run(resolved, Path(out_dir), resume, progress, stop_after_episodes)


def _run(config, out: Path, resume: bool, progress: bool, stop_after: int | None) -> dict:
    from orchestrator.driver import Trainer   # TensorFlow, after validation
    from orchestrator.provenance import write_provenance

    trainer = Trainer(config, out, resume=resume, progress=progress)
    try:
        write_provenance(out, config.to_dict())   # command: this Python process' sys.argv
        return trainer.run(stop_after_episodes=stop_after)
    finally:
        trainer.close()
