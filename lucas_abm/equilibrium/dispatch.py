"""Which exact equilibrium a population has, and its result as a JSON-ready dict.

The population's types decide the solver (docs/heterogeneity.md):

- some type has ``gamma: 0``: every type must be risk neutral -> Harrison–Kreps (own beliefs,
  own beta; dividends >= 0);
- betas differ: log utility (gamma 1) and a constant dividend -> the patience path;
- otherwise (gamma > 0, common beta and beliefs): Negishi, complete markets (equal gammas
  give the representative agent with no trade).

Anything else (beliefs that differ among risk-averse types, risk-neutral and risk-averse
types together, idiosyncratic income) has no exact solver here: a ConfigError says why.
Types' initial tree shares theta_k are their share of the population's total size, drawn
with the population's seed.
"""
from __future__ import annotations

import numpy as np

from lucas_abm.dividends import validate_transition
from lucas_abm.equilibrium.harrison_kreps import solve_harrison_kreps
from lucas_abm.equilibrium.negishi import solve_negishi
from lucas_abm.equilibrium.patience import solve_patience
from lucas_abm.errors import ConfigError
from lucas_abm.population import Population

_TIE = 1e-12


def chain_arrays(states, transition) -> tuple[np.ndarray, np.ndarray]:
    """Dividend levels (finite, >= 0, distinct) and their row-stochastic transition matrix."""
    y = np.asarray(states, float)
    if y.ndim != 1 or y.size == 0 or not np.all(np.isfinite(y)) or np.any(y < 0):
        raise ConfigError("states", "finite dividend levels >= 0", np.atleast_1d(y).tolist())
    if np.unique(y).size != y.size:
        raise ConfigError("states", "distinct numbers", y.tolist())
    return y, validate_transition(transition, y.size)


def _gamma_field(population, index: int) -> str:
    """The field that set type ``index``'s gamma: its own key, or the economy's default
    (``--gamma``) for a type that sets none."""
    return f"population[{index}].gamma" if population.types[index].gamma is not None else "gamma"


def solve_population(population: Population, states, transition, *, beta: float = 0.95,
                     gamma: float = 1.0, initial_state: int = 0, periods: int = 50) -> dict:
    """Solve the exact equilibrium of ``population`` on the chain (``states``, ``transition``);
    ``beta``/``gamma`` are the economy's, for types that set none. Returns a JSON-ready dict
    (keys in docs/heterogeneity.md)."""
    y, p_true = chain_arrays(states, transition)
    n = y.size
    if isinstance(initial_state, bool) or int(initial_state) != initial_state or not 0 <= initial_state < n:
        raise ConfigError("initial_state", f"a state index in [0, {n - 1}] (0 = the first state)", initial_state)
    initial_state = int(initial_state)
    for i, t in enumerate(population.types):
        if t.income.volatility != 0.0 or t.income.mean != 0.0:
            raise ConfigError(f"population[{i}].income", "left out (or zero) for solve", None,
                              detail="the exact equilibria have no idiosyncratic income")
        if t.beliefs is not None and np.shape(t.beliefs) != (n, n):
            raise ConfigError(f"population[{i}].beliefs.transition", f"{n} x {n}, one row per state",
                              f"{len(t.beliefs)} x {len(t.beliefs[0])}")
    gammas = population.gammas(gamma)
    betas = population.betas(beta)
    beliefs = np.array([p_true if t.beliefs is None else np.array(t.beliefs) for t in population.types])
    theta = population.draw(beta=beta, gamma=gamma).endowments
    names = population.names
    base = {"types": list(names), "dividend": y.tolist(), "transition": p_true.tolist(),
            "initial_state": initial_state, "endowment": _per_type(names, theta)}

    if np.any(gammas == 0):
        if not np.all(gammas == 0):
            bad = int(np.flatnonzero(gammas != 0)[0])
            raise ConfigError(_gamma_field(population, bad), "0 like the other types' (risk-neutral types "
                              "cannot be mixed with risk-averse ones in an exact solve)", float(gammas[bad]))
        return {**base, **_harrison_kreps(names, y, beliefs, betas, theta)}
    differs = [i for i in range(len(names)) if not np.allclose(beliefs[i], p_true, rtol=0, atol=1e-12)]
    if differs:
        raise ConfigError(f"population[{differs[0]}].beliefs", "the true transition matrix unless every "
                          "type is risk neutral (gamma: 0; Harrison-Kreps)", beliefs[differs[0]].tolist())
    if np.any(betas != betas[0]):
        if not np.all(gammas == 1.0):
            bad = int(np.flatnonzero(gammas != 1.0)[0])
            raise ConfigError(_gamma_field(population, bad), "1 (log utility) when betas differ",
                              float(gammas[bad]))
        if n != 1:
            raise ConfigError("dividend", "constant when betas differ (the exact patience path needs a "
                              "sure dividend)", f"{n} states")
        return {**base, **_patience(names, float(y[0]), betas, theta, periods)}
    return {**base, **_negishi(names, y, p_true, float(betas[0]), gammas, theta, initial_state,
                               [t.borrowing_limit for t in population.types])}


def _per_type(names, values) -> dict:
    return {name: (v.tolist() if isinstance(v, np.ndarray) else float(v)) for name, v in zip(names, values)}


def _negishi(names, y, p_mat, beta, gammas, theta, s0, limits) -> dict:
    eq = solve_negishi(y, p_mat, beta, gammas, theta, s0)
    n = y.size
    needed = eq.borrowing_needed()
    return {
        "solver": "negishi", "beta": beta, "gamma": _per_type(names, gammas),
        "tree_price": eq.tree_prices.tolist(), "bond_price": eq.bond_prices.tolist(),
        "sdf": eq.sdf.tolist(),
        "holdings": {k: {"shares": [float(eq.shares[i])] * n, "bonds": [float(eq.bonds[i])] * n}
                     for i, k in enumerate(names)},
        "consumption_share": _per_type(names, eq.consumption_shares),
        "wealth": _per_type(names, eq.wealth),
        "planner_weights": _per_type(names, eq.planner_weights),
        "representative_gamma": eq.representative_gamma,
        "borrowing_needed": _per_type(names, needed),
        "borrowing_limits_admit_equilibrium": bool(np.all(needed <= np.asarray(limits) * (1 + 1e-12))),
    }


def _harrison_kreps(names, y, beliefs, betas, theta) -> dict:
    eq = solve_harrison_kreps(y, beliefs, betas)
    # the type(s) with the highest resale valuation hold the tree; ties split it by endowment
    top = eq.resale_valuations >= eq.tree_prices[None, :] * (1.0 - _TIE)
    shares = top * theta[:, None]
    shares /= shares.sum(axis=0, keepdims=True)
    return {
        "solver": "harrison-kreps", "beta": _per_type(names, betas),
        "tree_price": eq.tree_prices.tolist(), "bond_price": eq.bond_prices.tolist(),
        "valuations": _per_type(names, eq.valuations),
        "resale_valuations": _per_type(names, eq.resale_valuations),
        "speculative_premium": eq.speculative_premium.tolist(),
        "holder": [names[h] for h in eq.holder],
        "holdings": {k: {"shares": shares[i].tolist(), "bonds": [0.0] * y.size} for i, k in enumerate(names)},
    }


def _patience(names, ybar, betas, theta, periods) -> dict:
    path = solve_patience(ybar, betas, theta, periods)
    return {
        "solver": "patience", "beta": _per_type(names, betas), "t": path.t.tolist(),
        "tree_price": path.tree_prices.tolist(), "bond_price": path.bond_prices.tolist(),
        "consumption_share": _per_type(names, path.consumption_shares),
        "holdings": {k: {"shares": path.shares[i].tolist(), "bonds": path.bonds[i].tolist()}
                     for i, k in enumerate(names)},
    }


def format_population(result: dict) -> str:
    """A readable table of :func:`solve_population`'s result."""
    names = result["types"]
    types = f"{len(names)} type" + ("s" if len(names) != 1 else "")
    lines = [f"{result['solver']} equilibrium, {types}, initial state {result['initial_state']}"]
    if result["solver"] == "patience":
        header = ["t", "tree_price", "bond_price"] + [f"c_share[{k}]" for k in names]
        cols = [result["t"], result["tree_price"], result["bond_price"]] + \
               [result["consumption_share"][k] for k in names]
    else:
        header = ["dividend", "tree_price", "bond_price"]
        cols = [result["dividend"], result["tree_price"], result["bond_price"]]
        if result["solver"] == "harrison-kreps":
            header += [f"value[{k}]" for k in names] + ["holder"]
            cols += [result["valuations"][k] for k in names] + [result["holder"]]
        else:
            header += [f"c_share[{k}]" for k in names]
            cols += [result["consumption_share"][k] for k in names]
    cells = [header] + [[f"{v:.6g}" if isinstance(v, float) else str(v) for v in row] for row in zip(*cols)]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    lines += ["  ".join(c.rjust(w) for c, w in zip(r, widths)) for r in cells]
    if result["solver"] == "negishi":
        lines.append("holdings per unit of tree supply (same in every state): " + "; ".join(
            f"{k}: shares {result['holdings'][k]['shares'][0]:.6g}, bonds {result['holdings'][k]['bonds'][0]:.6g}"
            for k in names))
        if result["representative_gamma"] is not None:
            lines.append(f"a representative agent with gamma = {result['representative_gamma']:.6g} has the same prices")
        if not result["borrowing_limits_admit_equilibrium"]:
            lines.append("note: some borrowing limits are below the equilibrium debt (borrowing_needed: "
                         + ", ".join(f"{k} {v:.4g}" for k, v in result["borrowing_needed"].items()) + ")")
    return "\n".join(lines)
