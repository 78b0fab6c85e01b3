"""The experience table: a short FIFO window of recent n-step items, sampled uniformly.

* **Uniform sampler, FIFO remover, capacity in items.** Multi-agent learning is
  non-stationary: an item records the other agents' *old* policies, so the market it
  describes no longer exists once they have learned. A short buffer keeps the sample close to
  the current joint policy (Foerster et al., 2017, "Stabilising experience replay for deep
  multi-agent RL"); the default 2000 windows are the last 6.7 episodes at T = 300, n = 3.
* **MinSize rate limiter.** Sampling blocks until ``min_size`` items exist, then never
  again. ``SampleToInsertRatio`` would block the *writer* too when the learner falls behind,
  and a single-threaded collect/train loop then deadlocks.
* **Timeouts.** Readers pass ``rate_limiter_timeout_ms`` so a sample that cannot be served
  raises instead of hanging (see :func:`replay.dataset.make_dataset`).
"""
from __future__ import annotations

import os
from dataclasses import dataclass, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping

import yaml

from lucas_abm.errors import ConfigError
from lucas_abm.yaml_io import load_yaml
from replay.signature import experience_signature, observation_dimension

if TYPE_CHECKING:  # Reverb (and TensorFlow) load only when a table is built: fast CLI errors
    import reverb


#: The largest ``max_size`` ``reverb.Table`` accepts (an int32; 2**31 is a TypeError).
REVERB_MAX_SIZE = 2**31 - 1
MAX_TIMEOUT_MS = 7 * 24 * 3600 * 1000   # a week: beyond, a blocked sample waits as if forever


@dataclass(frozen=True)
class ReplayConfig:
    """Replay settings; validated on construction (ConfigError names the field)."""

    table: str = "experience"
    capacity: int = 2000                   # items (n-step windows); FIFO eviction
    min_size: int = 200                    # sampling blocks until this many items exist
    rate_limiter_timeout_ms: int = 60_000  # a blocked sample/insert raises after this long

    def __post_init__(self) -> None:
        if not isinstance(self.table, str) or not self.table:
            raise ConfigError("replay.table", "a non-empty string", self.table)
        for name in ("capacity", "min_size", "rate_limiter_timeout_ms"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"replay.{name}", "an integer >= 1", value)
        if self.rate_limiter_timeout_ms > MAX_TIMEOUT_MS:
            raise ConfigError("replay.rate_limiter_timeout_ms", f"an integer in [1, {MAX_TIMEOUT_MS:,}] "
                              "(at most a week)", self.rate_limiter_timeout_ms)
        if self.capacity > REVERB_MAX_SIZE:
            raise ConfigError("replay.capacity", f"an integer in [1, {REVERB_MAX_SIZE}] (a Reverb "
                              "table's max_size is a 32-bit integer)", self.capacity)
        if self.min_size > self.capacity:
            raise ConfigError("replay.min_size", f"<= replay.capacity ({self.capacity})",
                              self.min_size)

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any] | None) -> "ReplayConfig":
        """Build from a config file's ``replay:`` section; unknown keys are an error."""
        values = dict(values or {})
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ConfigError("replay", "keys among " + ", ".join(sorted(known)),
                              ", ".join(unknown))
        return cls(**values)


def make_experience_table(signature: dict, config: ReplayConfig) -> reverb.Table:
    """Uniform/FIFO table of at most ``capacity`` items; sampling waits for ``min_size``."""
    if not signature:
        raise ConfigError("signature", "a non-empty dict of tf.TensorSpec", signature)
    import reverb

    return reverb.Table(
        name=config.table,
        sampler=reverb.selectors.Uniform(),
        remover=reverb.selectors.Fifo(),
        max_size=config.capacity,
        rate_limiter=reverb.rate_limiters.MinSize(config.min_size),
        signature=signature,
    )


# ------------------------------------------------------------------ config files
@dataclass(frozen=True)
class ReplaySettings:
    """What the replay layer reads from a training config file."""

    n_agents: int
    observation_dim: int
    n_step: int
    replay: ReplayConfig

    def signature(self) -> dict:
        return experience_signature(self.n_agents, self.observation_dim, self.n_step)


def _section(raw: dict, name: str) -> dict:
    value = raw.get(name, {})
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ConfigError(name, "a mapping", value)
    return value


def _required_int(section: dict, section_name: str, key: str, low: int, path: Path) -> int:
    field = f"{section_name}.{key}"
    if key not in section:
        raise ConfigError(field, f"given (an integer >= {low})", None, detail=f"missing in {path}")
    value = section[key]
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise ConfigError(field, f"an integer >= {low}", value)
    return value


def load_replay_settings(config_path: str | os.PathLike) -> ReplaySettings:
    """Read the replay-relevant keys of a training config file (YAML): see
    :func:`replay_settings`."""
    return replay_settings(read_config_mapping(config_path), config_path)


def read_config_mapping(config_path: str | os.PathLike) -> dict:
    """The YAML mapping in ``config_path``; ConfigError on ``config`` if it is not one."""
    path = Path(config_path)
    if not path.is_file():
        raise ConfigError("config", "an existing YAML file", str(path))
    try:
        raw = load_yaml(path.read_text())
    except (yaml.YAMLError, UnicodeDecodeError) as err:   # not YAML, or not text
        first = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise ConfigError("config", "valid YAML", str(path), detail=first) from None
    if not isinstance(raw, dict):
        raise ConfigError("config", "a YAML mapping with market, learner and replay sections",
                          str(path))
    return raw


def replay_settings(raw: dict, source: str | os.PathLike = "the config") -> ReplaySettings:
    """The replay-relevant keys of a training config mapping (``source`` names it in errors).

    Uses ``market.n_agents`` (>= 2), ``market.public_information`` (default false; sets the
    observation width D), ``learner.n_step`` (>= 1) and the ``replay:`` section
    (:class:`ReplayConfig` fields, all optional; another key there is an error). Other
    sections and keys belong to the training config and are ignored here.
    """
    path = Path(source)
    market, learner = _section(raw, "market"), _section(raw, "learner")
    n_agents = _required_int(market, "market", "n_agents", 2, path)
    public = market.get("public_information", False)
    if not isinstance(public, bool):
        raise ConfigError("market.public_information", "true or false", public)
    n_step = _required_int(learner, "learner", "n_step", 1, path)
    return ReplaySettings(n_agents, observation_dimension(public), n_step,
                          ReplayConfig.from_mapping(_section(raw, "replay")))
