"""Simulate the market with scripted traders: per-step series and a summary.

``SimulationConfig`` holds every choice; :meth:`SimulationConfig.build` validates all of it
(ConfigError naming the field) and constructs the market, policy and equilibrium prices
before any simulation work. :func:`run_simulation` then runs ``steps`` periods (resetting
at the market horizon, which defaults to ``steps``: one episode).
"""
from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd
from tqdm import tqdm

from lucas_abm.dividend_params import dividend_from_params
from lucas_abm.dividends import DividendProcess
from lucas_abm.errors import ConfigError, check_choice, check_int, check_range
from lucas_abm.guards import (check_lots, check_price_cap, check_prices_over_range,
                              check_utility_finite)
from lucas_abm.market import LucasMarket, MarketConfig, invariant_violation
from lucas_abm.market_config import MAX_AGENTS, MAX_HORIZON
from lucas_abm.mechanisms import build_mechanism
from lucas_abm.scripted import POLICIES, ScriptedPolicy, check_noise, check_spread, make_policy
from lucas_abm.solver import EquilibriumPrices, solve_equilibrium
from lucas_abm.utility import CRRAUtility

DIVIDENDS = ("constant", "iid-lognormal", "log-ar1", "markov")
PROGRESS_AGENT_STEPS = 5_000_000  # runs at least this long show a tqdm bar
DEFAULT_AGENTS = 1200     # the thesis' market
DEFAULT_TREE_LOT = 0.0005  # the lots of configs/thesis.yaml and thesis_cpu.yaml
DEFAULT_BOND_LOT = 0.0002


@dataclass
class SimulationConfig:
    """A scripted-agent simulation.

    The dividend takes the parameters of every config and command
    (:func:`lucas_abm.dividend_params.process_arguments`): ``ybar`` (constant level; for the
    lognormal laws the mean dividend, which sets ``mu`` unless ``mu`` is given), ``sigma``
    (default 0.1), ``alpha`` (log-ar1, default 0.9); a parameter the chosen law does not use
    is an error, as are ``theta`` without the bargaining mechanism, ``spread`` without the
    random policy and ``noise`` without the noisy-equilibrium policy (None: not given).
    ``mechanism`` is a built-in name or ``module:ClassName``; ``mechanism_params`` go to its
    constructor. The default lots are those of the training configs (``configs/thesis*.yaml``).
    """

    agents: int | None = None          # None: 1200, or the population's count
    steps: int = 300
    mechanism: str = "pairwise"
    policy: str = "equilibrium"
    seed: int = 0
    beta: float = 0.95
    gamma: float = 1.0
    dividend: str = "constant"
    ybar: float | None = None
    mu: float | None = None
    sigma: float | None = None
    alpha: float | None = None
    tree_lot: float = DEFAULT_TREE_LOT
    bond_lot: float = DEFAULT_BOND_LOT
    borrowing_limit: float = 0.01
    max_price: float = 10.0
    theta: float | None = None
    spread: float | None = None
    noise: float | None = None
    horizon: int | None = None
    backend: str = "auto"
    mechanism_params: dict = field(default_factory=dict)
    population: str | None = None      # a population file (lucas_abm/population.py); agents: None = its count
    states: list | None = None         # markov: dividend levels
    transition: list | None = None     # markov: rows of P(y' | y)

    def __post_init__(self) -> None:
        if self.agents is None and self.population is None:
            self.agents = DEFAULT_AGENTS

    def dividend_process(self) -> DividendProcess:
        name = check_choice("dividend", self.dividend, DIVIDENDS)
        given = {k: getattr(self, k) for k in ("ybar", "mu", "sigma", "alpha", "states", "transition")
                 if getattr(self, k) is not None}
        return dividend_from_params(name, given)

    def _mechanism(self):
        if self.mechanism_params is not None and not isinstance(self.mechanism_params, Mapping):
            raise ConfigError("mechanism_params", "a mapping of the mechanism's parameters, e.g. "
                              "{'theta': 0.5}", self.mechanism_params)
        params = dict(self.mechanism_params or {})
        if self.theta is not None:
            if self.mechanism != "bargaining":
                raise ConfigError("theta", "left out unless --mechanism bargaining (it sets that "
                                  "mechanism's settlement weight)", self.theta)
            if "theta" in params:   # one of the two would be ignored
                raise ConfigError("theta", "given once: as --theta or as --mechanism-param "
                                  "theta=..., not both", self.theta)
            params["theta"] = check_range("theta", self.theta, 0.0, 1.0, low_open=False,
                                          high_open=False)
        return build_mechanism(self.mechanism, params)

    def _policy_options(self) -> dict:
        for option, policy in (("spread", "random"), ("noise", "noisy-equilibrium")):
            if getattr(self, option) is not None and self.policy != policy:
                raise ConfigError(option, f"left out unless --policy {policy} (the {self.policy} "
                                  "policy does not use it)", getattr(self, option))
        checks = {"spread": check_spread, "noise": check_noise}
        return {k: checks[k](getattr(self, k)) for k in checks if getattr(self, k) is not None}

    def build(self) -> tuple[LucasMarket, ScriptedPolicy, EquilibriumPrices]:
        """Validate everything and construct (market, policy, equilibrium prices)."""
        check_int("seed", self.seed, 0)          # numpy's SeedSequence takes no negative seed
        if self.horizon is not None:             # 0 was read as "not given"
            check_int("horizon", self.horizon, 1, MAX_HORIZON)
        if self.population is not None:
            from lucas_abm.population_simulation import build_population
            return build_population(self)
        check_int("agents", self.agents, 2, MAX_AGENTS)
        check_int("steps", self.steps, 1, MAX_HORIZON)
        mechanism = self._mechanism()
        check_choice("policy", self.policy, POLICIES)
        policy_options = self._policy_options()
        check_range("beta", self.beta, 0.0, 1.0)
        utility = CRRAUtility(self.gamma)
        config = MarketConfig(n_agents=self.agents, horizon=self.horizon or self.steps,
                              tree_lot=self.tree_lot, bond_lot=self.bond_lot,
                              borrowing_limit=self.borrowing_limit, max_price=self.max_price)
        dividend = self.dividend_process()
        prices = solve_equilibrium(dividend, self.beta, utility.gamma)
        check_prices_over_range(prices, field="gamma")
        check_lots(prices, config.tree_lot, config.bond_lot, config.initial_shares,
                   config.borrowing_limit, prefix="")
        check_price_cap(prices, config.max_price)
        check_utility_finite(prices, config.initial_shares, field="gamma")
        market_seed, policy_seed = np.random.SeedSequence(self.seed).spawn(2)
        # the policy first: it checks --spread/--noise before the market compiles its kernels
        policy = make_policy(self.policy, prices, seed=int(policy_seed.generate_state(1)[0]),
                             **policy_options)
        market = LucasMarket(config, dividend, utility, mechanism,
                             seed=int(market_seed.generate_state(1)[0]), backend=self.backend)
        return market, policy, prices


@dataclass
class SimulationResult:
    series: pd.DataFrame    # one row per step
    summary: dict = field(default_factory=dict)


def run_simulation(config: SimulationConfig, progress: bool | None = None,
                   recorder=None) -> SimulationResult:
    """Run ``config.steps`` periods with the scripted policy; return series and summary.

    Summary prices are means of *posted* prices over agents and steps (invalid ones included:
    ``invalid_fraction`` is the share of agent-steps with an invalid posted price, either
    asset); volumes are lots per agent per step, as in training (the series' ``tree_volume``
    and ``bond_volume`` too: lots traded in that step / N); ``agent_steps_per_second`` =
    agents x steps / wall time of the loop (policy and market step both included); ``tree_price_star``/``bond_price_star`` are the means of
    the equilibrium ``p(y_t)``, ``q(y_t)`` along the simulated dividend path. A ``recorder``
    (:class:`lucas_abm.panels.PanelRecorder`) sees every step, for ``simulate --export``.
    """
    market, policy, prices = config.build()
    n, steps = market.n_agents, config.steps
    if progress is None:
        progress = n * steps >= PROGRESS_AGENT_STEPS
    columns = ("dividend", "tree_price_star", "bond_price_star", "mean_tree_price",
               "mean_bond_price", "tree_settlement_price", "bond_settlement_price",
               "tree_volume", "bond_volume", "mean_consumption", "mean_reward", "invalid",
               "infeasible", "invariant_violation", "tree_clearing_price", "bond_clearing_price")
    orders = getattr(policy, "orders", False)  # a population's order policy (population_simulation)
    rows = np.empty((steps, len(columns)))
    market.reset()
    if orders:
        prices = policy.start(market)
    if recorder is not None:
        recorder.start(market, getattr(prices, "equilibrium", prices))
    start = time.perf_counter()
    cpu = time.process_time()
    for t in tqdm(range(steps), disable=not progress, desc="simulate", unit="step"):
        y = market.dividend
        if orders:
            tree_price, bond_price, tree_quantity, bond_quantity = policy(y, market)
            out = market.step(tree_price, bond_price, tree_quantity, bond_quantity)
        else:
            tree_price, bond_price = policy(y, n)
            out = market.step(tree_price, bond_price)
        if recorder is not None:
            recorder.record(market, tree_price, bond_price, out)
        rows[t] = (y, prices.tree_price(y), prices.bond_price(y), tree_price.mean(),
                   bond_price.mean(), out.tree_settlement_price, out.bond_settlement_price,
                   out.tree_volume / n, out.bond_volume / n, out.consumption.mean(), out.reward.mean(),
                   out.invalid.sum(), out.infeasible.sum(), invariant_violation(market, out),
                   out.tree_clearing_price, out.bond_clearing_price)
        if orders and hasattr(policy, "check"):
            policy.check(market)
        if out.truncated and t + 1 < steps:
            market.reset()
            if orders:
                prices = policy.start(market)
    elapsed = time.perf_counter() - start
    cpu = time.process_time() - cpu
    series = pd.DataFrame(rows, columns=columns)
    series.insert(0, "t", np.arange(steps))
    summary = {
        "agents": n, "steps": steps, "mechanism": config.mechanism, "policy": config.policy,
        "dividend": config.dividend, "seed": config.seed, "beta": config.beta,
        "gamma": config.gamma, "backend": market.backend,
        "mean_tree_price": float(series.mean_tree_price.mean()),
        "mean_bond_price": float(series.mean_bond_price.mean()),
        "tree_price_star": float(series.tree_price_star.mean()),
        "bond_price_star": float(series.bond_price_star.mean()),
        "mean_tree_settlement_price": _nanmean(series.tree_settlement_price),
        "mean_bond_settlement_price": _nanmean(series.bond_settlement_price),
        "tree_lot": market.config.tree_lot, "bond_lot": market.config.bond_lot,
        "tree_volume_per_agent_per_step": float(series.tree_volume.mean()),
        "bond_volume_per_agent_per_step": float(series.bond_volume.mean()),
        "mean_consumption": float(series.mean_consumption.mean()),
        "mean_dividend": float(series.dividend.mean()),
        "invalid_per_step": float(series.invalid.mean()),
        "invalid_fraction": float(series.invalid.mean()) / n,
        "infeasible_per_step": float(series.infeasible.mean()),
        "max_invariant_violation": float(series.invariant_violation.max()),
        "agent_steps_per_second": n * steps / elapsed,
        "agent_steps_per_cpu_second": n * steps / max(cpu, 1e-9),
        "config": asdict(config),
    }
    if getattr(market, "agents", None) is not None:
        from lucas_abm.population_simulation import population_summary
        summary.update(population_summary(market, policy, series))
    return SimulationResult(series, summary)


def _nanmean(x) -> float | None:
    x = np.asarray(x, dtype=float)
    x = x[np.isfinite(x)]
    return float(x.mean()) if x.size else None


def plot_simulation(result: SimulationResult, path) -> None:
    """PNG: posted and settlement prices of tree and bond against p*, q*; volumes."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    s, info = result.series, result.summary
    fig, axes = plt.subplots(3, 1, figsize=(9, 10), sharex=True)
    for ax, asset, star, symbol in ((axes[0], "tree", "tree_price_star", "p"),
                                    (axes[1], "bond", "bond_price_star", "q")):
        ax.plot(s.t, s[f"mean_{asset}_price"], lw=1.2, label=f"mean posted {asset} price")
        ax.plot(s.t, s[f"{asset}_settlement_price"], ".", ms=3, alpha=0.7,
                label=f"mean settlement price ({asset})")
        ax.plot(s.t, s[star], "k--", lw=1.2, label=f"equilibrium ${symbol}^*(y_t)$")
        ax.set_ylabel(f"{asset} price")
        ax.set_title(f"{asset.capitalize()} price")
        ax.legend(loc="best", fontsize=8)
    axes[2].plot(s.t, s.tree_volume, lw=1.0, label=f"tree (lot {info['tree_lot']:g} shares)")
    axes[2].plot(s.t, s.bond_volume, lw=1.0, label=f"bond (lot {info['bond_lot']:g} bonds)")
    axes[2].set_ylabel("lots traded per agent per step")
    axes[2].set_xlabel("period t")
    axes[2].set_title("Trading volume")
    top = float(max(s.tree_volume.max(), s.bond_volume.max()))
    axes[2].set_ylim(0.0, 1.1 * top if top > 0 else 0.55)  # at most 1/2: each agent trades once
    if top == 0:
        axes[2].text(0.5, 0.5, "no trade in any step", transform=axes[2].transAxes,
                     ha="center", va="center", fontsize=11, color="0.3")
    axes[2].legend(loc="upper right", fontsize=8)
    fig.suptitle(f"{info['agents']} agents, {info['mechanism']} mechanism, "
                 f"{info['policy']} policy, seed {info['seed']}")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
