"""What a resumed run may change: only ``training.episodes`` (to extend a run); anything else
is refused, naming the keys that differ. And what an output directory may hold for a fresh
run (nothing of an earlier run's) or a resumed one."""
from __future__ import annotations

from pathlib import Path

import yaml

from lucas_abm.errors import ConfigError
from lucas_abm.yaml_io import load_yaml

EXTENSIBLE = ("training.episodes",)


def _flatten(tree, prefix: str = "") -> dict:
    if isinstance(tree, dict):
        out = {}
        for key, value in tree.items():
            out.update(_flatten(value, f"{prefix}{key}."))
        return out
    return {prefix[:-1]: tree}


def config_differences(saved: dict, wanted: dict) -> list[str]:
    """Dotted keys whose values differ between two config dicts."""
    a, b = _flatten(saved), _flatten(wanted)
    return sorted(k for k in set(a) | set(b) if a.get(k, "<absent>") != b.get(k, "<absent>"))


def _with_defaults(saved: dict) -> dict:
    """The saved config with the defaults of keys added since the run was made (a run saved
    before ``learner.algorithm`` existed trains dqn, the default); as saved if it no longer loads."""
    from orchestrator.config import config_from_dict

    try:
        return load_yaml(yaml.safe_dump(config_from_dict(saved).to_dict(), sort_keys=False))
    except ConfigError:
        return saved


def check_resumable(saved_path: Path, config_dict: dict) -> None:
    """Raise ConfigError unless the run's saved config equals ``config_dict`` up to
    ``training.episodes`` (which may only grow)."""
    saved = _with_defaults(load_yaml(saved_path.read_text()))
    wanted = load_yaml(yaml.safe_dump(config_dict, sort_keys=False))
    differ = config_differences(saved, wanted)
    refused = [k for k in differ if k not in EXTENSIBLE]
    if refused:
        raise ConfigError("--resume", "the run's configuration, except training.episodes (see "
                          f"{saved_path})", "changed " + ", ".join(refused))
    old, new = saved["training"]["episodes"], wanted["training"]["episodes"]
    if new < old:
        raise ConfigError("training.episodes", f">= {old} when resuming (runs are extended, not cut)", new)


def check_run_directory(out: Path, config_dict: dict, resume: bool) -> Path | None:
    """The run's latest checkpoint in ``out`` (None for a fresh run), after refusing, with a
    ConfigError on ``--out`` or ``--resume``: logs without checkpoints or checkpoints without
    ``--resume`` (an earlier run would be mixed into a new one), and ``--resume`` with another
    configuration. Reads only, so ``train`` checks before it locks or writes anything."""
    from orchestrator.checkpoint import CheckpointManager

    out = Path(out)
    latest = CheckpointManager(out / "checkpoints").latest() if (out / "checkpoints").is_dir() else None
    if latest is None and not resume and (out / "metrics.jsonl").exists():
        raise ConfigError("--out", "an empty directory, or pass --resume to continue the run in it", str(out))
    if latest is not None and not resume:
        raise ConfigError("--out", "a directory without checkpoints, or pass --resume", str(out))
    check_layout(out, actors=0)
    if latest is not None:
        check_resumable(latest / "config.yaml", config_dict)
    return latest


def check_layout(out: Path, actors: int) -> None:
    """A run continues in the layout it was started in: one process (``train``), or processes
    (``train --actors K``, compose), whose actors log their episodes in ``OUT/actors/`` and whose
    learner counts episodes from those logs. Refused, naming ``--actors``, when ``out`` holds a
    run of the other layout (``actors``: the ``--actors`` given, 0 for one process)."""
    if not (out / "metrics.jsonl").exists():
        return
    as_processes = (out / "actors").is_dir()
    if as_processes and not actors:
        raise ConfigError("--actors", f"K >= 1 to continue {out}, a run trained as processes "
                          "(train --actors K or compose)", actors)
    if actors and not as_processes:
        raise ConfigError("--actors", f"0 (left out) to continue {out}, a run trained in one process",
                          actors)
