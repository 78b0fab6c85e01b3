"""What a resumed run may change: only ``training.episodes`` (to extend a run); anything else
is refused, naming the keys that differ."""
from __future__ import annotations

from pathlib import Path

import yaml

from lucas_abm.errors import ConfigError

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
        return yaml.safe_load(yaml.safe_dump(config_from_dict(saved).to_dict(), sort_keys=False))
    except ConfigError:
        return saved


def check_resumable(saved_path: Path, config_dict: dict) -> None:
    """Raise ConfigError unless the run's saved config equals ``config_dict`` up to
    ``training.episodes`` (which may only grow)."""
    saved = _with_defaults(yaml.safe_load(saved_path.read_text()))
    wanted = yaml.safe_load(yaml.safe_dump(config_dict, sort_keys=False))
    differ = config_differences(saved, wanted)
    refused = [k for k in differ if k not in EXTENSIBLE]
    if refused:
        raise ConfigError("--resume", "the run's configuration, except training.episodes (see "
                          f"{saved_path})", "changed " + ", ".join(refused))
    old, new = saved["training"]["episodes"], wanted["training"]["episodes"]
    if new < old:
        raise ConfigError("training.episodes", f">= {old} when resuming (runs are extended, not cut)", new)
