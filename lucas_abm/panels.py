"""Simulated panels with their true stochastic discount factor, written as Parquet (docs/panels.md).

A :class:`PanelRecorder` watches a simulation period by period (posted prices, the market's
:class:`~lucas_abm.market.MarketStep` and holdings) and turns it into three tables:

- ``prices``: one row per period t with the dividend y_t, the period's prices (median posted
  p_t, q_t; mean settlement prices), the equilibrium p(y_t), q(y_t), gross returns from t to
  t+1 and the equilibrium SDF,

      R^tree_{t+1} = (p_{t+1} + y_{t+1}) / p_t,     R^bond_{t+1} = 1 / q_t,
      m_{t+1} = beta u'(c_{t+1}) / u'(c_t),

  plus aggregate and per-type consumption;
- ``types``: per period and type, the type's total shares, bonds and consumption;
- ``agents``: per period and agent (all agents or a seeded sample), shares and bonds held at
  the end of the period (s_{t+1}, b_{t+1}) and consumption c_t.

The SDF comes from the solver (:func:`equilibrium_sdf`): the representative agent consumes the
dividend, m = beta (y_{t+1}/y_t)^(-gamma); with heterogeneous risk aversion and complete
markets (Negishi) m = beta mu(y_{t+1}) / mu(y_t). Where prices are the equilibrium ones,
E_t[m_{t+1} R_{t+1}] = 1 for both assets, so m R - 1 is a martingale difference and its
sample mean has the ordinary standard error (:func:`pricing_errors`).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from lucas_abm.errors import ConfigError

#: A vectorised SDF: (y_t, y_{t+1}) -> m_{t+1}.
SDF = Callable[[np.ndarray, np.ndarray], np.ndarray]
PANEL_FILES = ("prices.parquet", "types.parquet", "agents.parquet")
DEFAULT_EXPORT_AGENTS = 10_000
SINGLE_TYPE = "all"           # the type name of an identical-agent market
_SAMPLE_STREAM = 0x70616E656C  # "panel": the sample's own generator, never the market's


def check_export_dir(path, option: str = "--export") -> Path:
    """``path`` as a Path if it is new or an empty directory (nothing under it is a file);
    otherwise ConfigError naming ``option`` (refused before any simulation work)."""
    path = Path(path)
    existing = next((p for p in (path, *path.parents) if p.exists()), None)
    if existing is not None and not existing.is_dir():
        raise ConfigError(option, "a new or empty directory, not a file or inside one", str(path))
    if path.is_dir() and any(path.iterdir()):
        raise ConfigError(option, "a new or empty directory (panels are never written over "
                          "earlier ones)", str(path))
    return path


def check_export_agents(k, option: str = "--export-agents") -> int:
    """The number of agents whose holdings are exported: an integer >= 0."""
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 0:
        raise ConfigError(option, "an integer >= 0 (0: no per-agent file)", k)
    return int(k)


# --- the true SDF --------------------------------------------------------------------------------

def representative_sdf(beta: float, gamma: float) -> SDF:
    """m_{t+1} = beta (y_{t+1} / y_t)^(-gamma): the representative agent consumes the dividend."""
    def sdf(y, y_next):
        return beta * (np.asarray(y_next, float) / np.asarray(y, float)) ** (-gamma)
    return sdf


def chain_sdf(states, sdf_matrix) -> SDF:
    """m_{t+1} = M[s(y_t), s(y_{t+1})] for a finite chain: ``sdf_matrix[i, j]`` = m(y_i, y_j)."""
    states = np.asarray(states, float)
    matrix = np.asarray(sdf_matrix, float)

    def index(y):
        y = np.asarray(y, float)
        i = np.abs(y[..., None] - states).argmin(axis=-1)
        if not np.allclose(states[i], y, rtol=1e-9, atol=0.0):
            raise ValueError(f"dividends {np.unique(y)[:5].tolist()} are not states {states.tolist()}")
        return i

    def sdf(y, y_next):
        return matrix[index(y), index(y_next)]
    return sdf


def equilibrium_sdf(equilibrium) -> SDF | None:
    """The solver's SDF for ``equilibrium``, or None where it gives none.

    - :class:`~lucas_abm.solver.EquilibriumPrices` (representative agent, every dividend law):
      m = beta (y'/y)^(-gamma);
    - :class:`~lucas_abm.equilibrium.negishi.NegishiEquilibrium`: m = beta mu(y')/mu(y), its
      ``sdf`` matrix over the chain's states.
    """
    from lucas_abm.equilibrium.negishi import NegishiEquilibrium
    from lucas_abm.solver import EquilibriumPrices

    if isinstance(equilibrium, EquilibriumPrices):
        return representative_sdf(equilibrium.beta, equilibrium.gamma)
    if isinstance(equilibrium, NegishiEquilibrium):
        return chain_sdf(equilibrium.states, equilibrium.sdf)
    return None


def _equilibrium_prices(equilibrium, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """p(y_t), q(y_t) along the path (NaN where the equilibrium gives no price function)."""
    if hasattr(equilibrium, "tree_price") and hasattr(equilibrium, "bond_price"):
        return (np.asarray(equilibrium.tree_price(y), float),
                np.asarray(equilibrium.bond_price(y), float))
    if hasattr(equilibrium, "states") and hasattr(equilibrium, "tree_prices"):
        i = np.abs(y[:, None] - np.asarray(equilibrium.states)[None, :]).argmin(axis=1)
        return np.asarray(equilibrium.tree_prices)[i], np.asarray(equilibrium.bond_prices)[i]
    nan = np.full(y.shape, np.nan)
    return nan, nan.copy()


# --- recording -----------------------------------------------------------------------------------

@dataclass
class Panels:
    """The three tables; :meth:`write` puts them in a directory as Parquet."""

    prices: pd.DataFrame
    types: pd.DataFrame
    agents: pd.DataFrame | None

    def write(self, directory) -> list[Path]:
        """Write ``prices.parquet``, ``types.parquet`` and (with agents) ``agents.parquet``."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        written = []
        for name, frame in (("prices", self.prices), ("types", self.types), ("agents", self.agents)):
            if frame is not None:
                path = directory / f"{name}.parquet"
                pq.write_table(_arrow_table(frame), path)
                written.append(path)
        return written


def _arrow_table(frame: pd.DataFrame) -> pa.Table:
    """``frame`` with the panel schema: int64 ``t``/``agent``, utf8 ``type``, float64 the rest
    (the same whichever string dtype pandas uses)."""
    fields = [pa.field(c, pa.int64() if c in ("t", "agent") else
                       pa.string() if c == "type" else pa.float64()) for c in frame.columns]
    arrays = [pa.array(frame[c].astype(str).tolist() if c == "type" else frame[c].to_numpy(),
                       type=f.type) for c, f in zip(frame.columns, fields)]
    return pa.Table.from_arrays(arrays, schema=pa.schema(fields))


@dataclass
class PanelRecorder:
    """Collects a simulation's panels; call :meth:`start` once, :meth:`record` after every step.

    ``export_agents``: how many agents' holdings go to the ``agents`` table (all of them when
    N <= export_agents, else a sample drawn without replacement by a generator seeded with
    ``seed``, independent of the market's). ``type_index``/``type_names`` label the agents;
    by default a market with a population (``market.agents.type_index``) gives the index,
    with its ``names`` if it has them, else ``type<k>``, and any other market is one type,
    ``"all"``. Type totals and consumption always cover every agent.
    """

    export_agents: int = DEFAULT_EXPORT_AGENTS
    seed: int = 0
    type_index: np.ndarray | None = None
    type_names: tuple = (SINGLE_TYPE,)
    equilibrium: object = None
    sample: np.ndarray = field(init=False, default=None)
    _rows: list = field(init=False, default_factory=list)
    _types: list = field(init=False, default_factory=list)
    _agents: list = field(init=False, default_factory=list)

    def start(self, market, equilibrium=None) -> None:
        """Fix the agent sample and the equilibrium (its p(y), q(y) and SDF) before the run."""
        n = market.n_agents
        kept = check_export_agents(self.export_agents)
        if kept >= n:
            self.sample = np.arange(n)
        else:
            rng = np.random.default_rng([int(self.seed), _SAMPLE_STREAM])
            self.sample = np.sort(rng.choice(n, size=kept, replace=False))
        agents = getattr(market, "agents", None)
        if self.type_index is None:
            index = getattr(agents, "type_index", None)
            self.type_index = np.zeros(n, np.int32) if index is None else np.asarray(index)
        if np.shape(self.type_index) != (n,):
            raise ConfigError("type_index", f"one type per agent ({n})", np.shape(self.type_index))
        k = int(self.type_index.max()) + 1
        if len(self.type_names) != k:
            if tuple(self.type_names) != (SINGLE_TYPE,):
                raise ConfigError("type_names", f"{k} names, one per type", list(self.type_names))
            names = getattr(agents, "names", None)
            self.type_names = (tuple(names) if names is not None and len(names) == k
                               else tuple(f"type{j}" for j in range(k)))
        self.equilibrium = equilibrium

    def record(self, market, tree_price: np.ndarray, bond_price: np.ndarray, out) -> None:
        """One period: posted prices [N], the market's step result and its holdings after it."""
        k = len(self.type_names)
        tree_price = np.asarray(tree_price, float)
        bond_price = np.asarray(bond_price, float)
        self._rows.append((out.t, out.dividend,
                           _period_price(getattr(out, "tree_clearing_price", math.nan), tree_price),
                           _period_price(getattr(out, "bond_clearing_price", math.nan), bond_price),
                           out.tree_settlement_price, out.bond_settlement_price,
                           out.tree_volume, out.bond_volume, out.truncated))
        shares, bonds, c = market.shares, market.bonds, out.consumption
        self._types.append(np.stack([np.bincount(self.type_index, weights=x, minlength=k)
                                     for x in (shares, bonds, c)]))
        if self.sample.size:
            self._agents.append(np.stack([shares[self.sample], bonds[self.sample],
                                          c[self.sample]]))

    def panels(self) -> Panels:
        """The recorded periods as :class:`Panels` (columns in docs/panels.md)."""
        if not self._rows:
            raise RuntimeError("PanelRecorder.panels() before any record()")
        rows = list(zip(*self._rows))
        steps = len(self._rows)
        t = np.arange(steps, dtype=np.int64)
        y = np.asarray(rows[1], float)
        p, q = np.asarray(rows[2], float), np.asarray(rows[3], float)
        last = np.asarray(rows[8], bool)                       # the period before a reset
        nxt = np.minimum(t + 1, steps - 1)
        has_next = ~last & (t + 1 < steps)
        tree_return = np.where(has_next, (p[nxt] + y[nxt]) / p, np.nan)
        bond_return = 1.0 / q
        sdf_fn = equilibrium_sdf(self.equilibrium)
        sdf = np.full(steps, np.nan)
        if sdf_fn is not None:
            sdf[has_next] = sdf_fn(y[has_next], y[nxt][has_next])
        p_star, q_star = _equilibrium_prices(self.equilibrium, y)
        totals = np.stack(self._types)                         # [T, 3, K]
        prices = pd.DataFrame({
            "t": t, "dividend": y, "tree_price": p, "bond_price": q,
            "tree_settlement_price": np.asarray(rows[4], float),
            "bond_settlement_price": np.asarray(rows[5], float),
            "tree_price_star": p_star, "bond_price_star": q_star,
            "tree_return": tree_return, "bond_return": bond_return, "sdf": sdf,
            "tree_volume": np.asarray(rows[6], float), "bond_volume": np.asarray(rows[7], float),
            "consumption": totals[:, 2, :].sum(axis=1),
        })
        for j, name in enumerate(self.type_names):
            prices[f"consumption_{name}"] = totals[:, 2, j]
        k = len(self.type_names)
        types = pd.DataFrame({
            "t": np.repeat(t, k), "type": np.tile(np.asarray(self.type_names, dtype=object), steps),
            "shares": totals[:, 0, :].ravel(), "bonds": totals[:, 1, :].ravel(),
            "consumption": totals[:, 2, :].ravel()})
        agents = None
        if self.sample.size:
            panel = np.stack(self._agents)                     # [T, 3, K]
            m = self.sample.size
            names = np.asarray(self.type_names, dtype=object)
            agents = pd.DataFrame({
                "t": np.repeat(t, m), "agent": np.tile(self.sample.astype(np.int64), steps),
                "type": np.tile(names[self.type_index[self.sample]], steps),
                "shares": panel[:, 0, :].ravel(), "bonds": panel[:, 1, :].ravel(),
                "consumption": panel[:, 2, :].ravel()})
        return Panels(prices, types, agents)


def _period_price(clearing: float, posted: np.ndarray) -> float:
    """The period's price: an order mechanism's clearing price where it gives one, else the
    median of the finite posted prices (NaN if none)."""
    if math.isfinite(clearing):
        return float(clearing)
    x = posted[np.isfinite(posted)]
    return float(np.median(x)) if x.size else math.nan


# --- the pricing check ---------------------------------------------------------------------------

def pricing_errors(prices: pd.DataFrame) -> dict:
    """Sample means of m_{t+1} R_{t+1} for the tree and the bond with their standard errors.

    Rows where sdf or a return is missing are dropped. Under the equilibrium prices
    E_t[m R] = 1, so x_t = m_{t+1} R_{t+1} - 1 is a martingale difference sequence: serially
    uncorrelated whatever the dividend's persistence, and s.e. = sd(x) / sqrt(n) is the right
    one (no autocorrelation correction). Returns {"tree": {...}, "bond": {...}}, each with
    ``mean``, ``se``, ``n`` and ``z`` = (mean - 1) / se.
    """
    out = {}
    for asset in ("tree", "bond"):
        x = (prices["sdf"] * prices[f"{asset}_return"]).to_numpy(float)
        x = x[np.isfinite(x)]
        n = int(x.size)
        mean = float(x.mean()) if n else math.nan
        se = float(x.std(ddof=1) / math.sqrt(n)) if n > 1 else math.nan
        if n > 1 and se > 0:
            z = (mean - 1.0) / se
        else:  # m R constant (a sure dividend, or log utility's wealth return): exact or not
            z = 0.0 if abs(mean - 1.0) <= 1e-12 else math.copysign(math.inf, mean - 1.0)
        out[asset] = {"mean": mean, "se": se, "n": n, "z": z}
    return out


def export_recorder(directory, export_agents: int | None, seed: int = 0) -> PanelRecorder | None:
    """The recorder for ``simulate --export DIR [--export-agents K]`` after checking both options
    (before any work); None without ``--export`` (``--export-agents`` alone is refused)."""
    if directory is None:
        if export_agents is not None:
            raise ConfigError("--export-agents", "left out unless --export DIR is given",
                              export_agents)
        return None
    check_export_dir(directory)
    k = DEFAULT_EXPORT_AGENTS if export_agents is None else check_export_agents(export_agents)
    return PanelRecorder(export_agents=k, seed=seed)


def export_panels(recorder: PanelRecorder, directory) -> dict:
    """Write the recorder's panels to ``directory``; return a JSON-ready record of what was
    written (``directory``, ``files``, ``agents_exported``) with :func:`pricing_errors` as ``euler``."""
    panels = recorder.panels()
    written = panels.write(directory)
    return {"directory": str(directory), "files": [p.name for p in written],
            "agents_exported": int(recorder.sample.size), "euler": pricing_errors(panels.prices)}


def describe_export(record: dict) -> str:
    """The lines ``simulate --export`` prints: the files and the Euler check."""
    lines = [f"  wrote panels to {record['directory']}: " + ", ".join(record["files"])
             + f" ({record['agents_exported']} agents in agents.parquet)"]
    for asset in ("tree", "bond"):
        e = record["euler"][asset]
        if e["n"]:
            lines.append(f"  sample mean of sdf x {asset}_return {e['mean']:.6f} (s.e. {e['se']:.2g}, "
                         f"{e['n']} periods; 1 in equilibrium)")
    return "\n".join(lines)
