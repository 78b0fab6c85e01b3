"""What every role shares about one episode: the economy built from a config, the episode
seeds, and the record of one episode (prices, outcomes, the sampled agents' paths)."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from lucas_abm.dividends import make_dividend
from lucas_abm.market import PRIVATE_OBSERVATIONS, PUBLIC_OBSERVATIONS, LucasMarket, MarketStep
from lucas_abm.mechanisms import make_mechanism
from lucas_abm.solver import MarkovEquilibrium, solve_equilibrium
from lucas_abm.utility import CRRAUtility
from orchestrator.config import TrainConfig
from orchestrator.population import draw as draw_population
from orchestrator.population import equilibrium as population_equilibrium
from orchestrator.state_errors import errors_by_state, priced_periods, state_index

SAMPLED_AGENTS = 10      # agents whose trajectories are stored for the report (thesis figs 8-11)
EVAL_SEED_OFFSET = 1_000_003


def episode_seed(seed: int, episode: int, actor: int = 0) -> int:
    """Market seed of an actor's episode; actor 0 draws the single-process run's seeds."""
    key = [seed, episode] if actor == 0 else [seed, episode, actor]
    return int(np.random.SeedSequence(key).generate_state(1)[0])


def exploration_rng(seed: int, actor: int = 0) -> np.random.Generator:
    """The exploration generator of an actor (actor 0: the single-process run's)."""
    return np.random.default_rng(seed if actor == 0 else [seed, actor])


def sampled_agents(config: TrainConfig) -> np.ndarray:
    n = config.market.n_agents
    return np.sort(np.random.default_rng(config.training.seed).choice(
        n, size=min(SAMPLED_AGENTS, n), replace=False))


@dataclass
class Economy:
    """The objects built from ``config.economy`` and ``config.market``."""

    config: TrainConfig

    def __post_init__(self) -> None:
        econ = self.config.economy
        self.dividend = make_dividend(econ.dividend, **econ.dividend_params)
        self.utility = CRRAUtility(econ.gamma)
        self.prices = solve_equilibrium(self.dividend, econ.beta, econ.gamma)
        make_mechanism(econ.mechanism, **econ.mechanism_params)  # validate before any work
        # a population's per-agent arrays, drawn once (seeded by training.seed); None: identical agents
        self.population = draw_population(self.config)
        self.population_equilibrium = population_equilibrium(self.config)
        eq = self.population_equilibrium
        if eq is not None and eq["solver"] == "negishi" and econ.dividend == "markov":
            # heterogeneous risk aversion moves p(y), q(y): the targets are the Negishi prices
            self.prices = self._negishi_prices(eq)
        self._targets_from: dict[int, tuple] = {}

    def _negishi_prices(self, eq: dict) -> MarkovEquilibrium:
        econ = self.config.economy
        return MarkovEquilibrium(self.dividend, econ.beta, econ.gamma, np.asarray(eq["dividend"]),
                                 np.asarray(eq["tree_price"]), np.asarray(eq["bond_price"]))

    def targets(self, first_dividend: float) -> tuple[dict | None, object]:
        """(population equilibrium, prices) an episode that starts with dividend ``first_dividend``
        is scored against. A Negishi population on a Markov chain whose episodes start from a
        random state gets the equilibrium valued in that episode's first state (the types'
        endowments are valued there, which moves the holdings and, slightly, p(y) and q(y));
        otherwise the economy's own (valued in the configured initial state)."""
        econ, eq = self.config.economy, self.population_equilibrium
        if (eq is None or eq["solver"] != "negishi" or econ.dividend != "markov"
                or econ.dividend_params.get("initial_state") is not None):
            return eq, self.prices
        k = int(state_index(np.atleast_1d(first_dividend), econ.dividend_params["states"])[0])
        if k == eq["initial_state"]:       # the economy's own, already solved
            return eq, self.prices
        if k not in self._targets_from:
            solved = population_equilibrium(self.config, initial_state=k)
            self._targets_from[k] = (solved, self._negishi_prices(solved))
        return self._targets_from[k]

    def market(self) -> LucasMarket:
        econ = self.config.economy
        extra = {} if self.population is None else {"population": self.population}
        return LucasMarket(self.config.market, make_dividend(econ.dividend, **econ.dividend_params),
                           self.utility, make_mechanism(econ.mechanism, **econ.mechanism_params), **extra)

    @property
    def observation_dim(self) -> int:
        """Width D of the learners' input: the market's columns and the agents' characteristics
        (orchestrator.agents.characteristics)."""
        from orchestrator.agents import characteristics

        names = PRIVATE_OBSERVATIONS + (PUBLIC_OBSERVATIONS if self.config.market.public_information else ())
        return len(names) + len(characteristics(self.config, self.population)[0])

    @property
    def stochastic(self) -> bool:
        return self.config.economy.dividend != "constant"


class EpisodeRecord:
    """What one episode did: posted prices of all agents, the market's outcomes, and the
    holdings and trades of the sampled agents (for the report's thesis figures 8-11)."""

    def __init__(self, market: LucasMarket, sampled: np.ndarray):
        T, N, k = market.horizon, market.n_agents, len(sampled)
        self.market, self.sampled = market, sampled
        self.t = 0
        self.tree_price, self.bond_price = np.empty((T, N)), np.empty((T, N))
        self.dividend, self.utility, self.penalty = np.empty(T), np.empty(T), np.empty(T)
        self.tree_volume, self.bond_volume = np.empty(T), np.empty(T)
        self.tree_clearing, self.bond_clearing = np.full(T, np.nan), np.full(T, np.nan)   # order mechanisms
        self.shares, self.bonds = np.empty((T + 1, k)), np.empty((T + 1, k))
        self.tree_trade, self.bond_trade = np.empty((T, k)), np.empty((T, k))
        self.shares[0] = market.shares[sampled]
        self.bonds[0] = market.bonds[sampled]

    def add(self, tree_price: np.ndarray, bond_price: np.ndarray, step: MarketStep) -> None:
        t, k = self.t, self.sampled
        self.tree_price[t], self.bond_price[t] = tree_price, bond_price
        self.dividend[t] = step.dividend
        self.utility[t], self.penalty[t] = step.utility.mean(), step.penalty.mean()
        self.tree_volume[t], self.bond_volume[t] = step.tree_volume, step.bond_volume
        self.tree_clearing[t], self.bond_clearing[t] = step.tree_clearing_price, step.bond_clearing_price
        self.shares[t + 1], self.bonds[t + 1] = self.market.shares[k], self.market.bonds[k]
        self.tree_trade[t], self.bond_trade[t] = step.tree_trade[k], step.bond_trade[k]
        self.t += 1

    def save(self, path: Path, **extra) -> None:
        """The sampled agents' trajectories as ``.npz`` (read by ``lucas-abm report``)."""
        k = self.sampled
        np.savez_compressed(path, agents=k, tree_price=self.tree_price[:, k], bond_price=self.bond_price[:, k],
                            shares=self.shares, bonds=self.bonds, tree_trade=self.tree_trade,
                            bond_trade=self.bond_trade, dividend=self.dividend,
                            **({"tree_clearing_price": self.tree_clearing, "bond_clearing_price": self.bond_clearing,
                                "tree_volume": self.tree_volume, "bond_volume": self.bond_volume}
                               if np.isfinite(self.tree_clearing).any() else {}), **extra)


def episode_metrics(record: EpisodeRecord, economy: Economy, prices=None) -> tuple[dict, np.ndarray, np.ndarray]:
    """Posted prices [T, N] against the solver's p(y_t), q(y_t) [T] (``prices``, default the
    economy's); volumes, utility, penalty."""
    from orchestrator.metrics import price_stats

    tree, bond, dividend = record.tree_price, record.bond_price, record.dividend
    T, n_agents = len(dividend), tree.shape[1]
    prices = economy.prices if prices is None else prices
    tree_star = np.broadcast_to(prices.tree_price(dividend), (T,)).astype(float)
    bond_star = np.broadcast_to(prices.bond_price(dividend), (T,)).astype(float)
    row = price_stats(tree, "tree_price")
    row.update(price_stats(bond, "bond_price"))
    row["tree_price_star"] = float(np.median(tree_star))
    row["bond_price_star"] = float(np.median(bond_star))
    row["tree_price_rel_error"] = row["tree_price_median"] / row["tree_price_star"] - 1.0
    row["bond_price_rel_error"] = row["bond_price_median"] / row["bond_price_star"] - 1.0
    row["tree_price_tracking_error"] = float(np.mean(np.abs(tree / tree_star[:, None] - 1.0)))
    row["bond_price_tracking_error"] = float(np.mean(np.abs(bond / bond_star[:, None] - 1.0)))
    agent_steps = n_agents * T
    row["tree_volume_per_agent_per_step"] = float(record.tree_volume.sum()) / agent_steps
    row["bond_volume_per_agent_per_step"] = float(record.bond_volume.sum()) / agent_steps
    row["mean_utility"] = float(record.utility.mean())
    row["mean_penalty"] = float(record.penalty.mean())
    for asset, clearing, star in (("tree", record.tree_clearing, tree_star), ("bond", record.bond_clearing, bond_star)):
        if np.isfinite(clearing).any():   # an order mechanism's clearing prices against p(y_t), q(y_t)
            row[f"{asset}_clearing_rel_error"] = float(np.nanmedian(clearing / star - 1.0))
    row.update(state_price_errors(record, economy, tree_star, bond_star))
    return row, tree_star, bond_star


def state_price_errors(record: EpisodeRecord, economy: Economy, tree_star: np.ndarray,
                       bond_star: np.ndarray) -> dict:
    """A finite Markov chain's price errors state by state (empty for other dividends).

    For each state y and asset: ``{asset}_price_rel_error[y=Y]``, the median over the periods
    in state y of ``median_k p_k,t / p(y) - 1`` (posted prices), and for an order mechanism
    ``{asset}_clearing_rel_error[y=Y]``, the median of ``P_t / p(y) - 1`` over the periods in
    state y that have a price (:func:`orchestrator.state_errors.priced_periods`: traded, or a
    schedules market at rest; otherwise the auction's price moves nothing).
    None where the episode has no such period. The pooled medians above are the error of the
    most frequent state and can hide another's (docs/acceptance_b.md)."""
    econ = economy.config.economy
    if econ.dividend != "markov":
        return {}
    states = econ.dividend_params["states"]
    state, n = state_index(record.dividend, states), len(states)
    schedules = economy.config.actions.tree_schedule_slope is not None
    row = {}
    for asset, posted, star, clearing, volume in (
            ("tree", record.tree_price, tree_star, record.tree_clearing, record.tree_volume),
            ("bond", record.bond_price, bond_star, record.bond_clearing, record.bond_volume)):
        posted_errors = errors_by_state(np.median(posted, axis=1), star, state, n)
        row.update({f"{asset}_price_rel_error[y={y:g}]": e for y, e in zip(states, posted_errors)})
        if np.isfinite(clearing).any():
            priced = priced_periods(volume, clearing, posted, schedules)
            clearing_errors = errors_by_state(clearing, star, state, n, priced)
            row.update({f"{asset}_clearing_rel_error[y={y:g}]": e for y, e in zip(states, clearing_errors)})
    return row
