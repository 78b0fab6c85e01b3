"""``simulate --population FILE``: the market with a population of scripted traders.

:func:`build_population` is :meth:`lucas_abm.simulate.SimulationConfig.build` for a population
(every field validated before any work); :func:`population_summary` adds the types' holdings
and, for equilibrium traders, their distance from the exact equilibrium to the summary.

Policies: with an order mechanism (``call-auction``) agents submit limit orders with
quantities (:mod:`lucas_abm.equilibrium_traders`): ``random`` and ``noisy-equilibrium`` around
p(y), q(y) with lots ``lot s0_i``, and ``equilibrium``, the orders that implement the exact
equilibrium. With a posted-price mechanism (``pairwise``, ``bargaining``) agents post prices
(:mod:`lucas_abm.scripted`), trading lots that scale with their size; ``equilibrium`` there
needs an equilibrium without trade (equal gammas).
"""
from __future__ import annotations

import numpy as np

from lucas_abm.equilibrium_traders import (EquilibriumTraders, PopulationEquilibrium,
                                           RandomOrders, population_equilibrium)
from lucas_abm.errors import ConfigError, check_choice, check_range
from lucas_abm.guards import check_population_utility_finite, dividend_range
from lucas_abm.market import LucasMarket, MarketConfig
from lucas_abm.mechanisms.orders import OrderMechanism
from lucas_abm.population import load_population
from lucas_abm.scripted import POLICIES, make_policy
from lucas_abm.solver import solve_equilibrium
from lucas_abm.utility import CRRAUtility


def build_population(cfg):
    """(market, policy, prices) for a :class:`~lucas_abm.simulate.SimulationConfig` with a population."""
    if isinstance(cfg.steps, bool) or not isinstance(cfg.steps, int) or cfg.steps < 1:
        raise ConfigError("steps", "an integer >= 1", cfg.steps)
    mechanism = cfg._mechanism()
    check_choice("policy", cfg.policy, POLICIES)
    options = cfg._policy_options()
    beta = check_range("beta", cfg.beta, 0.0, 1.0)
    gamma = check_range("gamma", cfg.gamma, 0.0, None, low_open=False)
    dividend = cfg.dividend_process()
    population = load_population(cfg.population)
    arrays = population.draw(beta=beta, gamma=gamma)
    n = arrays.n_agents
    if cfg.agents is not None and cfg.agents != n:
        raise ConfigError("agents", f"{n} (the population's count) or left out", cfg.agents)
    if n < 2:
        raise ConfigError("population", "at least 2 agents in all", n)
    check_population_utility_finite(dividend, arrays, population, default_field="gamma")
    config = MarketConfig(n_agents=n, horizon=cfg.horizon or cfg.steps, tree_lot=cfg.tree_lot,
                          bond_lot=cfg.bond_lot, borrowing_limit=cfg.borrowing_limit,
                          max_price=cfg.max_price)
    orders = isinstance(mechanism, OrderMechanism)
    market_seed, policy_seed = np.random.SeedSequence(cfg.seed).spawn(2)
    policy_seed = int(policy_seed.generate_state(1)[0])
    if cfg.policy == "equilibrium":
        policy = EquilibriumTraders(
            lambda state: population_equilibrium(population, arrays, dividend, beta, gamma, state),
            dividend)
        prices = policy.current
        trades = not (np.array_equal(prices.shares, arrays.initial_shares) and not prices.bonds.any())
        if not orders:
            if trades:
                raise ConfigError("mechanism", "an order mechanism (call-auction) for --policy "
                                  "equilibrium when the population's equilibrium has trade "
                                  "(posted one-lot prices cannot rebalance)", cfg.mechanism)
            policy = make_policy("equilibrium", prices, seed=policy_seed)
    else:
        prices = solve_equilibrium(dividend, beta, gamma if gamma > 0 else 1.0)
        if orders:
            policy = RandomOrders(cfg.policy, prices, cfg.tree_lot * arrays.initial_shares,
                                  cfg.bond_lot * arrays.initial_shares, seed=policy_seed, **options)
        else:
            policy = make_policy(cfg.policy, prices, seed=policy_seed, **options)
    _check_cap(prices, dividend, cfg.max_price)
    market = LucasMarket(config, dividend, CRRAUtility(1.0), mechanism,
                         seed=int(market_seed.generate_state(1)[0]), backend=cfg.backend,
                         population=arrays)
    return market, policy, prices


def _check_cap(prices, dividend, max_price: float) -> None:
    """The cap lies above p(y) at every level of the run's dividend range (lucas_abm.guards);
    a lognormal law's levels were not checked (p(nan) was skipped)."""
    p = np.asarray(prices.tree_price(dividend_range(dividend)), float)
    if np.any(np.isfinite(p) & (p > max_price)):
        raise ConfigError("max_price", f"above the equilibrium tree price {p.max():.6g} (posted "
                          "prices above the cap are invalid)", max_price)


def population_summary(market, policy, series) -> dict:
    """The types' holdings per unit of tree supply after the run and, for equilibrium traders,
    the solver's holdings, p(y), q(y) and the largest deviations along the path."""
    agents = market.agents
    names = list(getattr(agents, "names", ()) or [f"type{k}" for k in range(agents.type_index.max() + 1)])
    k = len(names)
    supply = market.total_shares

    def per_type(x):
        return np.bincount(agents.type_index, weights=x, minlength=k) / supply

    shares, bonds = per_type(market.shares), per_type(market.bonds)
    out = {"population": market.n_agents, "types": names,
           "holdings": {name: {"shares": float(shares[i]), "bonds": float(bonds[i])}
                        for i, name in enumerate(names)}}
    eq = policy.current if isinstance(policy, EquilibriumTraders) else getattr(policy, "prices", None)
    if isinstance(eq, PopulationEquilibrium):
        error = getattr(policy, "max_holding_error", None)  # tracked every period by the traders
        if error is None:  # posted prices: measured after the run
            error = float(max(np.abs(market.shares - eq.shares).max(),
                              np.abs(market.bonds - eq.bonds).max()))
        s_star, b_star = per_type(eq.shares), per_type(eq.bonds)
        clearing = series.tree_clearing_price.where(series.tree_clearing_price.notna(),
                                                    series.mean_tree_price)
        bond = series.bond_clearing_price.where(series.bond_clearing_price.notna(),
                                                series.mean_bond_price)
        out.update({
            "equilibrium_holdings": {name: {"shares": float(s_star[i]), "bonds": float(b_star[i])}
                                     for i, name in enumerate(names)},
            "max_tree_price_error": float((clearing / series.tree_price_star - 1).abs().max()),
            "max_bond_price_error": float((bond / series.bond_price_star - 1).abs().max()),
            "max_holding_error": error,
            "max_type_holding_error": float(max(np.abs(shares - s_star).max(),
                                                np.abs(bonds - b_star).max())),
        })
    return out
