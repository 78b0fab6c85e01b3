"""Reading a training config: a YAML file, ``--set`` overrides and ``--seed``, mapped onto
:class:`orchestrator.config.TrainConfig` with every value checked before any work starts.

``load_config(path, overrides, seed)`` is what the CLI calls; ``apply_overrides`` applies
``section.key=value`` strings (each value parsed as YAML 1.2, ``population.I.key=value`` for a
population's type I); ``config_from_dict`` maps a nested dict onto the dataclasses, refusing
unknown sections and keys, and numbers given as quoted text, with one line naming the field and
its range. The three are importable from :mod:`orchestrator.config` too.
"""
from __future__ import annotations

import copy
import dataclasses
import math
from pathlib import Path

import yaml

from lucas_abm.errors import ConfigError
from lucas_abm.yaml_io import load_yaml
from orchestrator.config import SECTIONS, TrainConfig


def _refuse_quoted_numbers(section: str, cls, values: dict) -> None:
    """A numeric field given as text (``gamma: '0.5'``): the checks take text, as command-line
    options arrive as text, but in a YAML file the quotes were put there."""
    numeric = {f.name for f in dataclasses.fields(cls)
               if "str" not in str(f.type) and ("float" in str(f.type) or "int" in str(f.type))}
    for key, value in values.items():
        if key in numeric and isinstance(value, str):
            raise ConfigError(f"{section}.{key}", f"{_range_of(cls, values, key)} (in YAML, "
                              "without quotes)", value)


def _range_of(cls, values: dict, key: str) -> str:
    """What field ``key``'s own check asks for, read off its refusal of NaN ('a number' if
    another field fails first or NaN passes)."""
    try:
        cls(**dict(values, **{key: math.nan}))
    except ConfigError as err:
        if err.field.rsplit(".", 1)[-1] == key:
            return err.allowed.replace("a finite number", "a number")
    return "a number"


def config_from_dict(raw: dict) -> TrainConfig:
    """Map a nested dict onto :class:`TrainConfig`; unknown sections/keys are errors."""
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError("config", "a mapping of sections to settings", type(raw).__name__)
    unknown = sorted(set(raw) - set(SECTIONS) - {"population"}, key=str)   # keys may be numbers
    if unknown:
        raise ConfigError(str(unknown[0]), "a known section: " + ", ".join(SECTIONS) + ", population")
    population = raw.get("population")
    market = raw.get("market")
    if population is not None and (market is None or isinstance(market, dict) and "n_agents" not in market):
        from lucas_abm.population import parse_population   # N from the types
        raw = dict(raw, market=dict(market or {}, n_agents=parse_population(population).n_agents))
    sections = {}
    for name, cls in SECTIONS.items():
        values = raw.get(name)
        values = {} if values is None else values   # an empty section (`market:`) is the defaults
        if not isinstance(values, dict):            # [], 0, false, "" are not
            raise ConfigError(name, "a mapping of settings", values)
        known = {f.name for f in dataclasses.fields(cls) if f.init}
        bad = sorted(set(values) - known, key=str)
        if bad:
            raise ConfigError(f"{name}.{bad[0]}", "a known key of section " + name + ": " + ", ".join(sorted(known)))
        _refuse_quoted_numbers(name, cls, values)
        try:
            sections[name] = cls(**values)
        except ConfigError as err:
            if "." in err.field:
                raise
            raise ConfigError(f"{name}.{err.field}", err.allowed, err.got, detail=err.detail) from None
    return TrainConfig(**sections, population=population)


def apply_overrides(raw: dict, overrides: list[str]) -> dict:
    """Apply ``section.key=value`` strings (value parsed as YAML) to a raw config dict.

    ``population.I.key=value`` sets a key of the population's type number I (from 0), e.g.
    ``--set population.0.gamma=2``: the population section is a list of types."""
    raw = copy.deepcopy(raw or {})
    if overrides and not isinstance(raw, dict):
        raise ConfigError("--config", "a YAML mapping of sections to settings (to apply --set to)",
                          type(raw).__name__)
    for item in overrides or []:
        if "=" not in item:
            raise ConfigError("--set", "section.key=value", item)
        key, value = item.split("=", 1)
        parts = key.strip().split(".")
        try:
            value = load_yaml(value)
        except yaml.YAMLError as err:
            raise ConfigError("--set", "KEY=VALUE with VALUE in YAML", item,
                              detail=str(err).splitlines()[0]) from None
        if parts[0] == "population":
            _set_population_key(raw, parts, value, item)
            continue
        if len(parts) < 2 or parts[0] not in SECTIONS:
            raise ConfigError("--set", "section.key=value with section one of " + ", ".join(SECTIONS)
                              + ", or population.I.key=value", item)
        node = raw.setdefault(parts[0], {})
        if node is None:                            # an empty section (`market:`)
            node = raw[parts[0]] = {}
        if not isinstance(node, dict):
            raise ConfigError("--set", f"a key inside a mapping, and section {parts[0]} is "
                              f"{type(node).__name__}, not a mapping", item)
        for depth, part in enumerate(parts[1:-1], start=2):
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ConfigError("--set", f"a key inside a mapping, and {'.'.join(parts[:depth])} is a "
                                  "single value", item)
        node[parts[-1]] = value
    return raw


def _set_population_key(raw: dict, parts: list[str], value, item: str) -> None:
    """``population.I.key=value``: type I of the config's population list gets key = value."""
    types = raw.get("population")
    if not isinstance(types, list) or not types:
        raise ConfigError("--set", "population.I.key=value only for a config with a population: list", item)
    if len(parts) != 3 or not (parts[1].isascii() and parts[1].isdigit()) or int(parts[1]) >= len(types):
        raise ConfigError("--set", f"population.I.key=value with I in [0, {len(types) - 1}]", item)
    if not isinstance(types[int(parts[1])], dict):
        raise ConfigError("--set", "population.I.key=value where type I is a mapping of keys", item)
    types[int(parts[1])][parts[2]] = value


def _kind(value) -> str:
    """'a list', 'a number', 'a string', 'a boolean': what a YAML document's top level is."""
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    return {list: "a list", str: "a string"}.get(type(value), f"a {type(value).__name__}")


def load_config(path: str | Path | None, overrides: list[str] | None = None, seed: int | None = None) -> TrainConfig:
    """Read a YAML config, apply ``--set`` overrides and ``--seed``, validate everything."""
    raw: dict = {}
    if path is not None:
        p = Path(path)
        if not p.is_file():
            raise ConfigError("--config", "an existing YAML file", str(path))
        try:
            raw = load_yaml(p.read_text())
        except (yaml.YAMLError, UnicodeDecodeError) as err:   # not YAML, or not text
            raise ConfigError("--config", "valid YAML", str(path), detail=str(err).splitlines()[0]) from None
        if raw is None:                                        # an empty file: the defaults
            raw = {}
        if not isinstance(raw, dict):
            raise ConfigError("--config", "a YAML mapping of sections to settings", str(path),
                              detail=f"its top level is {_kind(raw)}")
    raw = apply_overrides(raw, overrides or [])
    if seed is not None:
        training = raw.get("training")
        if training is not None and not isinstance(training, dict):
            raise ConfigError("training", "a mapping of settings", training)
        raw["training"] = dict(training or {}, seed=seed)
    return config_from_dict(raw)
