"""Populations of heterogeneous traders (docs/model.md section 4.1): agent types -> per-agent arrays.

A population is a list of agent types (the ``population:`` section of a config, or a YAML
file with that key). Each type has

=================  ===============================================================================
``name``           unique label (default: the preset's name, else ``type<i>``)
``count``          number of agents, an integer >= 1
``size``           a size law (lucas_abm/sizes.py): a number, a list, ``{pareto: {zeta: Z}}``,
                   ``{zipf: {}}`` or ``{lognormal: {sigma: S}}`` (default 1)
``gamma``          CRRA risk aversion >= 0; 0 is linear utility (risk neutral) (default: the economy's)
``beta``           discount factor in (0, 1) (default: the economy's)
``beliefs``        ``{transition: [[...], ...]}``: the type's own Markov transition matrix for the
                   dividend (square, row-stochastic) (default: the true law)
``borrowing_limit`` bonds an agent may owe per unit of its initial tree shares, >= 0; agent i's
                   bound is ``b_i >= -borrowing_limit * s0_i`` (default 0.01, the market's one bond
                   lot at one share per agent)
``income``         idiosyncratic non-tradable endowment proportional to size, per unit of initial
                   shares and in units of the mean dividend: ``z_it = mean + u_it``,
                   ``u_it = persistence u_i,t-1 + volatility eps_it`` with eps_it ~ N(0, 1) independent
                   across agents; keys ``mean`` (default 0), ``volatility`` (>= 0, default 0),
                   ``persistence`` (in (-1, 1), default 0)
``preset``         a named institution type from lucas_abm/presets/institutions.yaml whose fields
                   are the defaults for this type (the type's own keys override them)
=================  ===============================================================================

Normalisation of holdings: with sizes S_i drawn for all N agents, agent i starts with
``s0_i = N S_i / sum_j S_j`` tree shares and no bonds, so the tree supply is N, as in the
identical-agent market (one share each; equal sizes give exactly 1.0 per agent). Type k's
initial fraction of the supply is ``theta_k = sum_{i in k} S_i / sum_j S_j``.

Bad input raises a one-line ConfigError naming the field, e.g. ``population[1].gamma: must be
in [0, inf), got -1.0``.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import yaml

from lucas_abm.dividends import validate_transition
from lucas_abm.errors import ConfigError, check_range
from lucas_abm.market_config import MAX_AGENTS
from lucas_abm.sizes import SizeLaw, draw_sizes, parse_size_law
from lucas_abm.yaml_io import load_yaml

#: The market's default borrowing limit (MarketConfig.borrowing_limit): one bond lot.
DEFAULT_BORROWING_LIMIT = 0.01
TYPE_KEYS = ("name", "count", "size", "gamma", "beta", "beliefs", "borrowing_limit", "income", "preset")
PRESET_META = ("reason", "source")
INCOME_KEYS = ("mean", "volatility", "persistence")
PRESETS_FILE = Path(__file__).with_name("presets") / "institutions.yaml"


@dataclass(frozen=True)
class IncomeProcess:
    """z_it = mean + u_it, u_it = persistence u_i,t-1 + volatility eps_it (per unit of initial shares,
    in units of the mean dividend); the agent's income is s0_i z_it ybar."""

    mean: float = 0.0
    volatility: float = 0.0
    persistence: float = 0.0


@dataclass(frozen=True)
class AgentType:
    """One type of trader; ``gamma``/``beta`` None take the economy's, ``beliefs`` None the true law."""

    name: str
    count: int
    size: SizeLaw
    gamma: float | None = None
    beta: float | None = None
    beliefs: tuple | None = None
    borrowing_limit: float = DEFAULT_BORROWING_LIMIT
    income: IncomeProcess = IncomeProcess()
    preset: str | None = None


@dataclass(frozen=True, eq=False)
class PopulationArrays:
    """Per-agent arrays (length N, agents of a type contiguous, in type order) and per-type totals."""

    names: tuple
    type_index: np.ndarray          # int32, the type of each agent
    size: np.ndarray                # S_i
    gamma: np.ndarray
    beta: np.ndarray
    borrowing_limit: np.ndarray     # per agent: b_i >= -borrowing_limit_i (already times s0_i)
    initial_shares: np.ndarray      # s0_i = N S_i / sum S, sum = N
    income_mean: np.ndarray
    income_volatility: np.ndarray
    income_persistence: np.ndarray
    endowments: np.ndarray          # theta_k, per type, sum 1

    @property
    def n_agents(self) -> int:
        return int(self.size.size)

    def save(self, path) -> Path:
        """Write every per-agent array (and the type names) to ``path`` (.npz)."""
        path = Path(path)
        np.savez(path, names=np.array(self.names), type_index=self.type_index, size=self.size,
                 gamma=self.gamma, beta=self.beta, borrowing_limit=self.borrowing_limit,
                 initial_shares=self.initial_shares, income_mean=self.income_mean,
                 income_volatility=self.income_volatility, income_persistence=self.income_persistence,
                 endowments=self.endowments)
        return path


@dataclass(frozen=True)
class Population:
    """Agent types in order; ``seed`` seeds the size draws (:meth:`draw`)."""

    types: tuple
    seed: int = 0

    @property
    def names(self) -> tuple:
        return tuple(t.name for t in self.types)

    @property
    def n_agents(self) -> int:
        return sum(t.count for t in self.types)

    def gammas(self, default: float) -> np.ndarray:
        """gamma per type, the economy's ``default`` where a type sets none."""
        return np.array([default if t.gamma is None else t.gamma for t in self.types], float)

    def betas(self, default: float) -> np.ndarray:
        """beta per type, the economy's ``default`` where a type sets none."""
        return np.array([default if t.beta is None else t.beta for t in self.types], float)

    def draw(self, rng: np.random.Generator | None = None, *, beta: float = 0.95,
             gamma: float = 1.0) -> PopulationArrays:
        """Per-agent arrays: sizes drawn type by type from ``rng`` (default: seeded by ``seed``)."""
        rng = np.random.default_rng(self.seed) if rng is None else rng
        counts = np.array([t.count for t in self.types])
        drawn = [draw_sizes(t.size, t.count, rng) for t in self.types]
        sizes = np.concatenate(drawn)
        with np.errstate(over="ignore"):
            total = sizes.sum()
        if not np.isfinite(total):          # each type's total fits a float64, but not all types'
            totals = ", ".join(f"{t.name} {d.sum():.3g}" for t, d in zip(self.types, drawn))
            raise ConfigError("population", "sizes whose total over all types is a float64",
                              detail=f"the types' totals: {totals}")
        n = sizes.size
        if np.all(sizes == sizes[0]):
            s0 = np.ones(n)                                   # bitwise the identical-agent market
        else:
            s0 = n * (sizes / sizes.sum())
        type_index = np.repeat(np.arange(len(self.types), dtype=np.int32), counts)
        per_type = np.bincount(type_index, weights=sizes, minlength=len(self.types))

        def expand(values) -> np.ndarray:
            return np.asarray(values, float)[type_index]

        return PopulationArrays(
            names=self.names, type_index=type_index, size=sizes,
            gamma=expand(self.gammas(gamma)), beta=expand(self.betas(beta)),
            borrowing_limit=expand([t.borrowing_limit for t in self.types]) * s0,
            initial_shares=s0,
            income_mean=expand([t.income.mean for t in self.types]),
            income_volatility=expand([t.income.volatility for t in self.types]),
            income_persistence=expand([t.income.persistence for t in self.types]),
            endowments=per_type / per_type.sum())


# --- parsing ---------------------------------------------------------------------------------

@lru_cache(maxsize=1)
def load_presets() -> dict:
    """The named institution types (lucas_abm/presets/institutions.yaml), keyed by name."""
    with open(PRESETS_FILE, encoding="utf-8") as fh:
        return load_yaml(fh)["presets"]


def _number(field: str, value: Any, low=None, high=None, **kw) -> float:
    """A number of a population file (YAML: quoted text and booleans are refused, with the range)."""
    return check_range(field, value, low, high, text=False, **kw)


def parse_income(value: Any, field: str) -> IncomeProcess:
    if value is None:
        return IncomeProcess()
    if not isinstance(value, Mapping):
        raise ConfigError(field, "a mapping with keys " + ", ".join(INCOME_KEYS), value)
    unknown = sorted(set(map(str, value)) - set(INCOME_KEYS))
    if unknown:
        raise ConfigError(f"{field}.{unknown[0]}", "one of the keys " + ", ".join(INCOME_KEYS), value[unknown[0]])
    return IncomeProcess(
        mean=_number(f"{field}.mean", value.get("mean", 0.0)),
        volatility=_number(f"{field}.volatility", value.get("volatility", 0.0), 0.0, None, low_open=False),
        persistence=_number(f"{field}.persistence", value.get("persistence", 0.0), -1.0, 1.0))


def parse_beliefs(value: Any, field: str) -> tuple | None:
    """``{transition: matrix}`` -> the matrix as a tuple of rows (square, row-stochastic)."""
    if value is None:
        return None
    if not isinstance(value, Mapping) or set(map(str, value)) != {"transition"}:
        raise ConfigError(field, "a mapping {transition: [[...], ...]} (the type's Markov transition matrix)",
                          value)
    rows = value["transition"]
    if not isinstance(rows, (list, tuple)) or not rows:
        raise ConfigError(f"{field}.transition", "a square list of rows of probabilities", rows)
    p = validate_transition(rows, len(rows), f"{field}.transition")
    return tuple(tuple(r) for r in p.tolist())


def parse_type(spec: Any, index: int) -> AgentType:
    """One entry of ``population:`` (after expanding its ``preset``) -> :class:`AgentType`."""
    field = f"population[{index}]"
    if not isinstance(spec, Mapping):
        raise ConfigError(field, "a mapping with keys among " + ", ".join(TYPE_KEYS), spec)
    unknown = sorted(set(map(str, spec)) - set(TYPE_KEYS))
    if unknown:
        raise ConfigError(f"{field}.{unknown[0]}", "one of the keys " + ", ".join(TYPE_KEYS), spec[unknown[0]])
    preset = spec.get("preset")
    merged = dict(spec)
    if preset is not None:
        presets = load_presets()
        if not isinstance(preset, str) or preset not in presets:
            raise ConfigError(f"{field}.preset", "one of " + ", ".join(presets), preset)
        merged = {k: v for k, v in presets[preset].items() if k not in PRESET_META}
        merged.update(spec)
    name = merged.get("name", preset if preset is not None else f"type{index}")
    if not isinstance(name, str) or not name:
        raise ConfigError(f"{field}.name", "a non-empty string", name)
    count = merged.get("count", 1)
    if isinstance(count, bool) or not isinstance(count, (int, np.integer)) or not 1 <= count <= MAX_AGENTS:
        raise ConfigError(f"{field}.count", f"an integer in [1, {MAX_AGENTS:,}]", count)
    gamma = merged.get("gamma")
    if gamma is not None:
        gamma = _number(f"{field}.gamma", gamma, 0.0, None, low_open=False)
    beta = merged.get("beta")
    if beta is not None:
        beta = _number(f"{field}.beta", beta, 0.0, 1.0)
    return AgentType(
        name=name, count=int(count), size=parse_size_law(merged.get("size", 1.0), f"{field}.size"),
        gamma=gamma, beta=beta, beliefs=parse_beliefs(merged.get("beliefs"), f"{field}.beliefs"),
        borrowing_limit=_number(f"{field}.borrowing_limit",
                                merged.get("borrowing_limit", DEFAULT_BORROWING_LIMIT), 0.0, None,
                                low_open=False),
        income=parse_income(merged.get("income"), f"{field}.income"), preset=preset)


def parse_population(value: Any, seed: Any = 0) -> Population:
    """The ``population:`` list -> :class:`Population` (every field validated, names unique)."""
    if not isinstance(value, (list, tuple)) or not value:
        raise ConfigError("population", "a non-empty list of agent types", value)
    types = tuple(parse_type(spec, i) for i, spec in enumerate(value))
    seen = set()
    for i, t in enumerate(types):
        if t.name in seen:
            raise ConfigError(f"population[{i}].name", "unique among the types", t.name)
        seen.add(t.name)
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ConfigError("seed", "an integer >= 0", seed)
    return Population(types, int(seed))


def load_population(path) -> Population:
    """A YAML file with a ``population:`` list and an optional ``seed:`` (size draws, default 0)."""
    path = Path(path)
    try:
        with open(path, encoding="utf-8") as fh:
            doc = load_yaml(fh)
    except OSError as err:
        raise ConfigError("population", "a readable YAML file", str(path), detail=err.strerror) from None
    except (yaml.YAMLError, UnicodeDecodeError) as err:   # not YAML, or not text
        raise ConfigError("population", "a valid YAML file", str(path),
                          detail=" ".join(str(err).split())) from None
    if not isinstance(doc, Mapping) or "population" not in doc:
        raise ConfigError("population", "a YAML file with a top-level 'population:' list", str(path))
    unknown = sorted(set(map(str, doc)) - {"population", "seed"})
    if unknown:
        raise ConfigError(unknown[0], "left out of a population file (keys: population, seed)", doc[unknown[0]])
    return parse_population(doc["population"], doc.get("seed", 0))
