"""Populations in training: the config's ``population:`` section -> per-agent arrays, weight
groups and the run directory's record of the draw (docs/heterogeneity.md, "Learning on
populations").

The section is the list of agent types of a population file (:mod:`lucas_abm.population`
parses it; nothing is parsed twice). In training

* sizes are drawn by :meth:`lucas_abm.population.Population.draw` from a generator seeded with
  ``training.seed`` (each seed is its own draw of the economy), and agent i starts with
  ``s0_i = N S_i / sum_j S_j`` shares, so the supply is N as in the identical-agent market;
* a type without its own ``borrowing_limit`` takes ``market.borrowing_limit`` (bonds owed per
  initial share), and every lot scales with size: agent i trades ``delta_s s0_i`` shares and
  ``delta_b s0_i`` bonds (:mod:`lucas_abm.heterogeneous`);
* the learners' discount is ``economy.beta`` and they learn from the true dividend law, so a
  type's ``beta`` must equal it and ``beliefs`` are refused (one-line errors, before any work);
* weights: ``independent`` gives every agent its network; ``shared`` gives every type one
  network (:func:`group_index`; the types' counts may differ).

The identical-agent configs have no ``population:`` and never reach this module.
"""
from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

import numpy as np

from lucas_abm.errors import ConfigError
from lucas_abm.population import Population, PopulationArrays, parse_population
from orchestrator import atomic

POPULATION_CSV = "population.csv"
POPULATION_JSON = "population.json"


def parse_training_population(raw: Any, economy, market, learner, training) -> Population:
    """Validate the ``population:`` section against the other sections; one-line errors."""
    if isinstance(raw, (list, tuple)):
        # a type without its own limit takes the market's (a preset's own limit wins)
        raw = [dict({"borrowing_limit": market.borrowing_limit}, **spec)
               if isinstance(spec, dict) and "preset" not in spec else spec for spec in raw]
    population = parse_population(raw, training.seed)
    for i, t in enumerate(population.types):
        if t.beliefs is not None:
            raise ConfigError(f"population[{i}].beliefs", "absent in training (the learners learn "
                              "from the true dividend law)", {"transition": [list(r) for r in t.beliefs]})
        if t.beta is not None and t.beta != economy.beta:
            raise ConfigError(f"population[{i}].beta", f"absent or equal to economy.beta = {economy.beta:g} "
                              "in training (the learners' discount is economy.beta)", t.beta)
        if t.borrowing_limit > 0 and t.borrowing_limit < market.bond_lot:
            raise ConfigError(f"population[{i}].borrowing_limit", f"0 or >= market.bond_lot = "
                              f"{market.bond_lot:g} (a borrower sells one bond lot per initial share)",
                              t.borrowing_limit)
    if population.n_agents != market.n_agents:
        raise ConfigError("market.n_agents", f"the population's number of agents ({population.n_agents}), "
                          "or left out", market.n_agents)
    if market.initial_shares != 1.0:
        raise ConfigError("market.initial_shares", "1 (left out) with a population (initial shares "
                          "follow the sizes, N in all)", market.initial_shares)
    if learner.weight_sharing == "shared":
        if learner.agent_types not in (1, len(population.types)):
            raise ConfigError("learner.agent_types", f"1 (left out) or {len(population.types)} with a "
                              "population (shared weights: one network per type)", learner.agent_types)
    return population


def draw(config) -> PopulationArrays | None:
    """The per-agent arrays of ``config``'s population (None without one); deterministic."""
    population = config.population_types
    if population is None:
        return None
    return population.draw(beta=config.economy.beta, gamma=config.economy.gamma)


def group_index(config) -> np.ndarray:
    """The weight group of every agent, int32 [N]: independent ``arange(N)``; shared with a
    population the agent's type; shared without one ``agent_types`` contiguous equal blocks."""
    n = config.market.n_agents
    if config.learner.weight_sharing == "independent":
        return np.arange(n, dtype=np.int32)
    population = config.population_types
    if population is not None:
        counts = [t.count for t in population.types]
        return np.repeat(np.arange(len(counts), dtype=np.int32), counts)
    k = config.learner.agent_types
    return np.repeat(np.arange(k, dtype=np.int32), n // k)


def shard_group_index(config, lo: int, hi: int) -> np.ndarray | None:
    """The weight groups of agents [lo, hi) (a shard), numbered from 0 within the shard; None
    without a population (contiguous equal blocks). Shards own whole groups
    (:func:`orchestrator.algorithms.check_sharding`), so the shard's groups are consecutive."""
    if config.population_types is None:
        return None
    index = group_index(config)[lo:hi]
    return index - index.min()


def write_population(out: str | Path, config, arrays: PopulationArrays) -> Path:
    """RUN/population.csv (one row per agent) and RUN/population.json (types and totals)."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    groups = group_index(config)
    table = io.StringIO(newline="")
    w = csv.writer(table)
    w.writerow(["agent", "type", "group", "size", "initial_shares", "initial_bonds", "gamma",
                "beta", "borrowing_limit"])
    for i in range(arrays.n_agents):
        w.writerow([i, arrays.names[arrays.type_index[i]], int(groups[i]), repr(float(arrays.size[i])),
                    repr(float(arrays.initial_shares[i])), 0.0, repr(float(arrays.gamma[i])),
                    repr(float(arrays.beta[i])), repr(float(arrays.borrowing_limit[i]))])
    atomic.write_text(out / POPULATION_CSV, table.getvalue())   # a killed run never leaves half a file
    types = config.population_types.types
    doc = {"seed": config.population_types.seed, "n_agents": arrays.n_agents,
           "types": [{"name": t.name, "count": t.count,
                      "gamma": float(arrays.gamma[arrays.type_index == k][0]),
                      "beta": float(arrays.beta[arrays.type_index == k][0]),
                      "borrowing_limit_per_share": t.borrowing_limit,
                      "endowment": float(arrays.endowments[k]),
                      "size_sum": float(arrays.size[arrays.type_index == k].sum())}
                     for k, t in enumerate(types)],
           "equilibrium": equilibrium(config),
           "columns": "population.csv: agent, type, group (weight group), size S_i, initial_shares "
                      "s0_i = N S_i / sum S, initial_bonds, gamma, beta, borrowing_limit (bonds owed, "
                      "already times s0_i)"}
    atomic.write_json(out / POPULATION_JSON, doc)
    return out / POPULATION_CSV


def read_population(run_dir: str | Path) -> dict[str, np.ndarray] | None:
    """RUN/population.csv as arrays (None for an identical-agent run)."""
    path = Path(run_dir) / POPULATION_CSV
    if not path.is_file():
        return None
    with open(path, encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    out = {k: np.array([float(r[k]) for r in rows]) for k in
           ("size", "initial_shares", "gamma", "beta", "borrowing_limit")}
    out["type"] = np.array([r["type"] for r in rows])
    out["group"] = np.array([int(r["group"]) for r in rows])
    return out


def record(out: str | Path, config) -> Path | None:
    """Write the run's population files (nothing for identical agents); the same draw as the market's."""
    arrays = draw(config)
    return None if arrays is None else write_population(out, config, arrays)


def equilibrium(config, initial_state: int | None = None) -> dict | None:
    """The population's exact equilibrium (lucas_abm.equilibrium.solve_population) for a constant
    or Markov-chain dividend, valued in the configured ``initial_state`` (the chain's first state
    when episodes start from a random state), or in ``initial_state`` if given; None where there is none here
    (other dividend laws, or a population the exact solvers refuse). The types' endowments
    theta_k are the run's draw (the same seed), so the targets are those of the run's market."""
    from lucas_abm.equilibrium.dispatch import solve_population

    population = config.population_types
    econ = config.economy
    if population is None or econ.dividend not in ("constant", "markov"):
        return None
    if econ.dividend == "constant":
        states, transition = [econ.dividend_params["ybar"]], [[1.0]]
    else:
        states, transition = econ.dividend_params["states"], econ.dividend_params["transition"]
    initial = econ.dividend_params.get("initial_state") if econ.dividend == "markov" else None
    initial = initial if initial_state is None else initial_state
    try:
        result = solve_population(population, states, transition, beta=econ.beta, gamma=econ.gamma,
                                  initial_state=0 if initial is None else int(initial))
    except ConfigError:
        return None
    return result


def holds_bonds(eq: dict | None, tolerance: float = 1e-12) -> bool:
    """True when the Negishi equilibrium's types hold bonds (heterogeneous risk aversion): the
    one-period bond is then rolled over every period, so the equilibrium trades every period."""
    if (eq or {}).get("solver") != "negishi":
        return False
    return any(abs(b) > tolerance for h in eq["holdings"].values() for b in h.get("bonds", []))


def holdings_met(row: dict, eq: dict, share_tolerance: float, bond_tolerance: float) -> bool:
    """Every type's holdings in an evaluation row (``shares[name]``, ``bonds[name]`` per unit of
    supply, type_holdings) within the tolerances of the equilibrium's: |s - s_k| <=
    share_tolerance, and |b / b_k - 1| <= bond_tolerance (where b_k = 0: |b| <= share_tolerance)."""
    for name, h in (eq.get("holdings") or {}).items():
        s, b = row.get(f"shares[{name}]"), row.get(f"bonds[{name}]")
        s_k, b_k = h["shares"][0], h["bonds"][0]
        if s is None or b is None or abs(s - s_k) > share_tolerance:
            return False
        if (abs(b / b_k - 1.0) > bond_tolerance) if b_k != 0 else (abs(b) > share_tolerance):
            return False
    return True


def equilibrium_holdings(eq: dict | None) -> dict:
    """The Negishi equilibrium's holdings by type, per unit of supply, as evaluation-row columns
    ``shares_equilibrium[name]``, ``bonds_equilibrium[name]`` (the targets the row was scored
    against); {} for other equilibria."""
    if eq is None or eq.get("solver") != "negishi":
        return {}
    out = {f"shares_equilibrium[{n}]": float(h["shares"][0]) for n, h in eq["holdings"].items()}
    out.update({f"bonds_equilibrium[{n}]": float(h["bonds"][0]) for n, h in eq["holdings"].items()})
    return out


def type_holdings(shares: np.ndarray, bonds: np.ndarray, arrays: PopulationArrays) -> dict:
    """Each type's shares and bonds per unit of tree supply (shares sum to 1, bonds to 0):
    ``{"shares[name]": ..., "bonds[name]": ...}``, one bincount each."""
    k = len(arrays.names)
    supply = float(arrays.initial_shares.sum())
    s = np.bincount(arrays.type_index, weights=shares, minlength=k) / supply
    b = np.bincount(arrays.type_index, weights=bonds, minlength=k) / supply
    out = {f"shares[{n}]": float(v) for n, v in zip(arrays.names, s)}
    out.update({f"bonds[{n}]": float(v) for n, v in zip(arrays.names, b)})
    return out


def holding_errors(shares: np.ndarray, bonds: np.ndarray, arrays: PopulationArrays, eq: dict | None) -> dict:
    """Mean over agents of |s_i - s_i*| / s0_i and |b_i - b_i*| / s0_i, with agent i of type k
    holding ``s_i* = (s_k / theta_k) s0_i``, ``b_i* = (b_k / theta_k) s0_i`` in the equilibrium
    (docs/heterogeneity.md); the equilibrium state's holdings are the same in every state for
    the Negishi solver. Empty without an equilibrium."""
    if eq is None or "holdings" not in eq or eq.get("solver") != "negishi":
        return {}
    theta = arrays.endowments
    s_k = np.array([eq["holdings"][n]["shares"][0] for n in arrays.names]) / theta
    b_k = np.array([eq["holdings"][n]["bonds"][0] for n in arrays.names]) / theta
    s0 = arrays.initial_shares
    return {"share_error": float(np.mean(np.abs(shares - s_k[arrays.type_index] * s0) / s0)),
            "bond_error": float(np.mean(np.abs(bonds - b_k[arrays.type_index] * s0) / s0))}
