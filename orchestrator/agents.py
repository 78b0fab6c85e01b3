"""The learning agents: what they see, what they may post, how they explore.

Everything here is vectorised over agents; the Q-learning itself is in :mod:`orchestrator.dqn`.

Rewards. The market pays ``r = u(c) - penalty`` (docs/model.md §2). Learners see

    r~ = (r - u(s_0 y_t)) / R,   R = u'(c_ref) * c_ref * delta_s / (s_0 (1 - beta)),

with ``c_ref = s_0 E[y]``. Subtracting ``u(s_0 y_t)``, the utility of consuming the
endowment's dividend, removes the dividend's own noise from the reward; since it depends only
on the exogenous dividend, its discounted sum does not depend on any action, so the optimal
policy is unchanged. ``R`` is the utility value of the dividend stream of one tree lot, so a
trade's effect on r~ is of order one whatever the lot size.

Autarky shaping (``learner.reward_shaping: autarky``, an addition for independent learners,
docs/learning.md "Independent learners"). The learners see instead

    r~ = (r - u(s_0 y_t) + beta Phi(x_{t+1}) - Phi(x_t)) / R,
    Phi(s, b, y) = u(s y + b) - u(s_0 y) + beta/(1-beta) (u(s y) - u(s_0 y)),

the value of holding (s, b) in autarky (consume this period's income, then the dividends of s
forever at the current dividend) over the endowment's. A potential-based term leaves every
optimal policy unchanged (Ng, Harada and Russell 1999; Q_shaped = Q - Phi). With log utility a
period without a trade then pays exactly 0, and a trade pays its autarky surplus, e.g. a tree
lot bought at P: log(1 - P delta_s / e) + beta/(1-beta) log(1 + delta_s / s) (the no-trade
band's condition): the +-1 reward unit swing of paying now for dividends later, which the
network would otherwise have to cancel through the value of the next state, is gone.

Markov autarky shaping (``learner.reward_shaping: autarky-markov``; a finite Markov chain
dividend only). The holding term above values the trees at the current dividend forever,
which on a chain misstates how their value depends on the state. This potential takes the
chain's own expectation instead:

    Phi(s, b, y_j) = u(s y_j + b) - u(s_0 y_j) + sum_k H_jk (u(s y_k) - u(s_0 y_k)),
    H = beta P (I - beta P)^(-1),

the utility of consuming this period's income and then the dividends of s forever, over the
endowment's (H_jk is the discounted expected number of future periods in state k, from j).
With a constant dividend it is the autarky potential. Its marginal value of a share,
d Phi/ds / u'(c), is the type's autarky valuation of the tree in every state
(docs/acceptance_b.md, "How precisely holdings pin down valuations"), so the network is left
to learn only how trading changes it. Measured on the two-type economy it does not help: from
the endowment those valuations are far from the equilibrium's (docs/acceptance_b.md,
"Further routes").

``learner.reward_scale`` multiplies r~ (a positive factor changes no policy): with shaping, what
a learner must tell apart is a trade's surplus, about 0.005 reward units per tick of mispricing.

Reward clip (``learner.reward_clip: c``, default none): the scaled reward is clipped to
[-c, c] (as Mnih et al. 2015 clip Atari scores). It matters where utility is unbounded below:
with gamma = 5 an exploring order that spends the whole income is scored at the market's
consumption floor, u(1e-6) ~ -1e23, and one such reward swamps every Q-target. A clip far
above the rewards of sensible trades changes only how bad a catastrophe looks, not which
sensible action is best (configs/population_two_types_cpu.yaml; docs/heterogeneity.md).

Observations. Columns are centred and scaled (holdings in units of ``learner.holdings_unit_lots``
lots, default 10; log dividend standardised; income in units of the dividend) so that the
network inputs are of order one (``configs/thesis_cpu_ac.yaml`` takes 1,000 lots, so that a few
lots of position barely move an actor's price: docs/learning.md, "TD3 with independent weights").
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lucas_abm.dividends import DividendProcess
from lucas_abm.market import LucasMarket, MarketStep
from lucas_abm.mechanisms.schedules import schedule_arguments
from lucas_abm.utility import CRRAUtility
from orchestrator.config import ActionGridConfig, ExplorationConfig, TrainConfig


def dividend_moments(dividend: DividendProcess, seed: int = 12345, draws: int = 4000) -> tuple[float, float, float]:
    """Mean of y, mean and standard deviation of log y along a simulated path (for scaling only)."""
    path = dividend.sample_path(draws, np.random.default_rng(seed))
    logs = np.log(path)
    return float(path.mean()), float(logs.mean()), float(logs.std())


def dividend_state_levels(config: TrainConfig) -> tuple[int, list[float]]:
    """(column, levels): where the dividend sits in the learners' observation and the value
    it takes there in each state of a finite Markov chain, (log y_k - mean log y) / sd log y
    (the scaling of :meth:`Features.build`); the gate of ``learner.state_networks``."""
    from lucas_abm.dividends import make_dividend
    from lucas_abm.market_config import PRIVATE_OBSERVATIONS

    econ = config.economy
    dividend = make_dividend(econ.dividend, **econ.dividend_params)
    _, mean_log_y, sd_log_y = dividend_moments(dividend)
    scale = sd_log_y if sd_log_y > 1e-12 else 1.0
    levels = [(float(np.log(y)) - mean_log_y) / scale for y in dividend.states]
    return PRIVATE_OBSERVATIONS.index("dividend"), levels


@dataclass
class Features:
    """Maps market observations and rewards to the learners' scaled inputs and rewards."""

    names: tuple
    offset: np.ndarray
    scale: np.ndarray
    log_columns: np.ndarray        # columns fed as log (the dividend)
    utility: CRRAUtility
    initial_shares: float
    reward_scale: float
    shaping: str = "endowment"       # learner.reward_shaping
    reward_clip: float | None = None  # learner.reward_clip
    market: LucasMarket | None = None   # autarky: read for s_{t+1}, b_{t+1}, y_{t+1} after a step
    beta: float = 0.95
    consumption_floor: float = 1e-6
    characteristics: np.ndarray | None = None   # [N, k] constant columns appended (characteristics())
    chain: DividendProcess | None = None        # autarky-markov: the Markov chain dividend
    hold_weights: np.ndarray | None = None      # autarky-markov: H = beta P (I - beta P)^(-1), [K, K]
    endowment_levels_utility: np.ndarray | None = None   # autarky-markov: u(s_0 y_k), [N or 1, K]

    @classmethod
    def build(cls, config: TrainConfig, market: LucasMarket, dividend: DividendProcess) -> "Features":
        mc = config.market
        mean_y, mean_log_y, sd_log_y = dividend_moments(dividend)
        s0 = mc.initial_shares if mc.initial_shares > 0 else 1.0
        initial, unit = mc.initial_shares, 1.0
        lots = config.learner.holdings_unit_lots   # holdings fed in units of this many lots
        if market.agents is not None:   # a population: every agent in units of its own endowment and lots
            s0 = initial = unit = market.agents.initial_shares
        per = {
            "shares": (initial, lots * mc.tree_lot * unit, False),
            "bonds": (0.0, lots * mc.bond_lot * unit, False),
            "dividend": (mean_log_y, sd_log_y if sd_log_y > 1e-12 else 1.0, True),
            "income": (s0, lots * mc.tree_lot * unit, False),   # fed as e / y = s + b / y (see observation)
            "last_tree_price": (0.5 * (config.actions.tree_low + config.actions.tree_high),
                                config.actions.tree_high - config.actions.tree_low, False),
            "last_bond_price": (0.5 * (config.actions.bond_low + config.actions.bond_high),
                                config.actions.bond_high - config.actions.bond_low, False),
            "last_tree_volume": (0.0, 1.0, False),
            "last_bond_volume": (0.0, 1.0, False),
        }
        names = market.observation_names
        logs = np.array([per[n][2] for n in names])
        utility = market.utility
        c_ref = s0 * mean_y
        if market.agents is None:
            offset = np.array([per[n][0] for n in names])
            scale = np.array([per[n][1] for n in names])
            value_of_lot = float(utility.marginal(np.array(c_ref))) * c_ref * mc.tree_lot / (s0 * (1 - config.economy.beta))
        else:   # [N, D] offsets and scales; R_i = u_i'(c_i) c_i delta_s s0_i / (s0_i (1 - beta)), [N]
            n = market.n_agents
            offset = np.stack([np.broadcast_to(per[k][0], (n,)) for k in names], axis=1)
            scale = np.stack([np.broadcast_to(per[k][1], (n,)) for k in names], axis=1)
            value_of_lot = utility.marginal(c_ref) * c_ref * mc.tree_lot / (1 - config.economy.beta)
        extra_names, extra = characteristics(config, market.agents)
        chain = hold = endowment_levels = None
        if config.learner.reward_shaping == "autarky-markov":   # TrainConfig checked: a Markov chain
            chain, P, beta = dividend, dividend.transition_matrix, config.economy.beta
            hold = beta * P @ np.linalg.inv(np.eye(len(P)) - beta * P)
            levels = np.asarray(chain.states, float)[None, :]
            endowment_levels = utility(np.asarray(s0, float).reshape(-1, 1) * levels)
        return cls(names + extra_names, offset, scale, logs, utility, s0,
                   config.learner.reward_scale / value_of_lot,
                   shaping=config.learner.reward_shaping, reward_clip=config.learner.reward_clip,
                   market=market, beta=config.economy.beta,
                   consumption_floor=mc.consumption_floor, characteristics=extra,
                   chain=chain, hold_weights=hold, endowment_levels_utility=endowment_levels)

    def observation(self, raw: np.ndarray) -> np.ndarray:
        """[N, D] market observation -> [N, D] float32 network input.

        Income is expressed in units of the current dividend, e / y = s + b / y: the dividend
        is an input of its own, and in levels income would swing with y by many lots.
        """
        x = raw.astype(np.float64)
        if "income" in self.names:
            x[:, self.names.index("income")] /= x[:, self.names.index("dividend")]
        x[:, self.log_columns] = np.log(x[:, self.log_columns])
        out = ((x - self.offset) / self.scale).astype(np.float32)
        if self.characteristics is not None:
            out = np.concatenate([out, self.characteristics], axis=1)
        return out

    def _endowment_utility(self, dividend: float):
        """u_i(s0_i y): a float for identical agents, [N] with a population."""
        if np.ndim(self.initial_shares) == 0:
            return float(self.utility(np.array(self.initial_shares * dividend)))
        return self.utility(self.initial_shares * dividend)

    def reward(self, step: MarketStep) -> np.ndarray:
        """r~ = (u(c) - penalty - u(s_0 y_t) [+ beta Phi(x_{t+1}) - Phi(x_t)]) / R, float32 [N],
        clipped to [-reward_clip, reward_clip] if set.

        ``step`` must be the market's latest step (autarky shaping reads the holdings and the
        dividend the market holds after it)."""
        reward = step.reward - self._endowment_utility(step.dividend)
        if self.shaping in ("autarky", "autarky-markov"):
            reward = reward + self.shaping_term(step)
        reward = reward * self.reward_scale
        if self.reward_clip is not None:
            reward = np.clip(reward, -self.reward_clip, self.reward_clip)
        return reward.astype(np.float32)

    def potential(self, shares: np.ndarray, bonds: np.ndarray, dividend: float) -> np.ndarray:
        """Phi(s, b, y): the utility of consuming the income ``s y + b`` now and then holding s
        (module docstring), over the endowment's; [N] float64."""
        return self._potential(shares * dividend + bonds, shares, dividend)

    def _potential(self, income: np.ndarray, shares: np.ndarray, y: float) -> np.ndarray:
        u, floor = self.utility, self.consumption_floor
        endowment = self._endowment_utility(y)
        now = u(np.maximum(income, floor)) - endowment
        if self.shaping == "autarky-markov":
            return now + self._hold_forever(shares, y)
        holding = u(np.maximum(shares * y, floor)) - endowment
        return now + self.beta / (1.0 - self.beta) * holding

    def _hold_forever(self, shares: np.ndarray, y: float) -> np.ndarray:
        """sum_k H_jk (u(s y_k) - u(s_0 y_k)) at y = y_j: the discounted expected utility of the
        dividends of s from next period on, over the endowment's; [N]."""
        j = int(self.chain.state_index(y))
        levels = np.asarray(self.chain.states, float)[None, :]
        s = np.asarray(shares, float).reshape(-1, 1)
        gain = (self.utility(np.maximum(s * levels, self.consumption_floor))
                - self.endowment_levels_utility)                 # [N, K] (rows: agents)
        return gain @ self.hold_weights[j]

    def shaping_term(self, step: MarketStep) -> np.ndarray:
        """beta Phi(x_{t+1}) - Phi(x_t) in utility units, [N] float64.

        x_{t+1} is the market's state after ``step``; s_t = s_{t+1} - (shares traded) and
        s_t y_t + b_t = income e_t, both float64."""
        m = self.market
        shares_before = m.shares - step.tree_trade
        before = self._potential(step.income, shares_before, step.dividend)
        return self.beta * self.potential(m.shares, m.bonds, m.dividend) - before


def characteristics(config: TrainConfig, agents) -> tuple[tuple, np.ndarray | None]:
    """The agent's own constant characteristics appended to its observation, where one network
    serves agents that differ in them (``weight_sharing: shared`` with a population):

    ``log_size``      log s0_i (initial shares, proportional to size; 0 at the mean size), if
                      sizes differ within a weight group;
    ``risk_aversion`` log(1 + gamma_i), if gammas differ within a weight group.

    ``agents`` is a PopulationArrays or the market's AgentArrays (None: identical agents, no
    columns). Beliefs and beta are common in training (orchestrator/population.py)."""
    if agents is None or config.learner.weight_sharing != "shared":
        return (), None
    from orchestrator.population import group_index

    groups = group_index(config)
    s0 = np.asarray(agents.initial_shares, float)
    gamma = np.asarray(agents.gamma if hasattr(agents, "gamma") else agents.gammas, float)
    names, columns = [], []
    for name, value in (("log_size", np.log(s0)), ("risk_aversion", np.log1p(gamma))):
        low = np.full(groups.max() + 1, np.inf)
        high = np.full(groups.max() + 1, -np.inf)
        np.minimum.at(low, groups, value)
        np.maximum.at(high, groups, value)
        if np.any(high > low):
            names.append(name)
            columns.append(value)
    if not names:
        return (), None
    return tuple(names), np.stack(columns, axis=1).astype(np.float32)


def rbf_basis(n_prices: int, spacing: int) -> np.ndarray | None:
    """Gaussian bumps every ``spacing`` grid points, width ``spacing``: [K_basis, n_prices]."""
    if spacing <= 0:
        return None
    centres = np.arange(0, n_prices + spacing - 1, spacing)
    k = np.arange(n_prices)
    return np.exp(-0.5 * ((k[None, :] - centres[:, None]) / spacing) ** 2).astype(np.float32)


def quadratic_basis(n_prices: int) -> np.ndarray:
    """[u_k, -u_k^2] over the grid, u_k = 2 k / (K - 1) - 1: [2, n_prices]. The network gives the
    coefficients as (2 kappa c, kappa) from a vertex c and a curvature kappa > 0
    (EnsembleQNetwork ``concave``), so the advantage is a concave parabola in the price
    (ActionGridConfig, ``price_basis: quadratic``)."""
    u = np.linspace(-1.0, 1.0, n_prices) if n_prices > 1 else np.zeros(1)
    return np.stack([u, -u ** 2]).astype(np.float32)


class ActionGrid:
    """Index <-> posted price for both assets; with positions (ActionGridConfig), index <->
    (limit price, target position), price-major: ``index = price_index * n_positions + j``.

    ``tree_prices[index]`` is the index's price either way; ``tree_targets[index]`` its target
    (None without positions). ``tree_basis`` is the price basis; the network expands it over
    positions (``kron(basis, I)``, networks._expand), so every position has its own smooth
    advantage over prices."""

    def __init__(self, config: ActionGridConfig):
        self.n_tree_positions = 1 if config.tree_positions is None else len(config.tree_positions)
        self.n_bond_positions = 1 if config.bond_positions is None else len(config.bond_positions)
        self.n_tree_prices, self.n_bond_prices = len(config.tree_prices()), len(config.bond_prices())
        self.tree_prices = np.repeat(config.tree_prices(), self.n_tree_positions)
        self.bond_prices = np.repeat(config.bond_prices(), self.n_bond_positions)
        self.tree_targets = self.bond_targets = None
        if config.tree_positions is not None:
            self.tree_targets = np.tile(np.asarray(config.tree_positions, float), self.n_tree_prices)
            self.bond_targets = np.tile(np.asarray(config.bond_positions, float), self.n_bond_prices)
        self.tree_slope, self.bond_slope = config.tree_schedule_slope, config.bond_schedule_slope
        self.concave = config.price_basis == "quadratic"
        if self.concave:
            self.tree_basis, self.bond_basis = quadratic_basis(self.n_tree_prices), quadratic_basis(self.n_bond_prices)
        else:
            self.tree_basis = rbf_basis(self.n_tree_prices, config.basis_spacing)
            self.bond_basis = rbf_basis(self.n_bond_prices, config.basis_spacing)

    def explore(self, asset: str, greedy: np.ndarray, epsilon: float, config: ExplorationConfig,
                rng: np.random.Generator) -> np.ndarray:
        """:func:`explore` on the price; with positions, also (separately) on the position."""
        n_pos = getattr(self, f"n_{asset}_positions")
        n_prices = getattr(self, f"n_{asset}_prices")
        if n_pos == 1:
            return explore(greedy, n_prices, epsilon, config, rng)
        price, position = np.divmod(greedy, n_pos)
        price = explore(price, n_prices, epsilon, config, rng)
        position = explore(position, n_pos, epsilon, config, rng)
        return (price * n_pos + position).astype(np.int32)

    def orders(self, actions, shares: np.ndarray, initial_shares) -> tuple | None:
        """The extra arguments of ``LucasMarket.step`` for the actions; None for posted prices.

        Positions: signed quantities (tree, bond), tree ``s0 (1 + tau) - s``, bond
        ``s0 beta_b`` (the new one-period bond position). Schedules: (None, None, tree slope,
        bond slope), each ``a s0`` (the prices are the reservation values)."""
        if self.tree_slope is not None:
            return schedule_arguments(self.tree_slope, self.bond_slope,
                                      np.broadcast_to(np.asarray(initial_shares, float), shares.shape))
        if self.tree_targets is None:
            return None
        tree = initial_shares * (1.0 + self.tree_targets[actions["tree_action"]]) - shares
        bond = initial_shares * self.bond_targets[actions["bond_action"]]
        return tree, bond

    @property
    def n_tree(self) -> int:
        return len(self.tree_prices)

    @property
    def n_bond(self) -> int:
        return len(self.bond_prices)


def shard_initial_shares(market, lo: int, hi: int):
    """Initial shares s0_i of agents [lo, hi): the market's scalar for identical agents, the
    population's [hi - lo] array otherwise."""
    return market.config.initial_shares if market.agents is None else market.agents.initial_shares[lo:hi]


def market_orders(policy, actions, market) -> tuple:
    """The policy's order quantities as extra arguments of ``LucasMarket.step`` (none: posted prices)."""
    orders = policy.orders(actions, market) if hasattr(policy, "orders") else None
    return () if orders is None else orders


def explore(greedy: np.ndarray, n_actions: int, epsilon: float, config: ExplorationConfig,
            rng: np.random.Generator) -> np.ndarray:
    """Epsilon-greedy with local moves (see :class:`ExplorationConfig`), vectorised over agents."""
    n = greedy.shape[0]
    explore_mask = rng.random(n) < epsilon
    local = rng.random(n) < config.local_fraction
    step = np.rint(rng.normal(0.0, config.local_width, n)).astype(np.int64)
    local_action = np.clip(greedy + step, 0, n_actions - 1)
    uniform_action = rng.integers(0, n_actions, n)
    return np.where(explore_mask, np.where(local, local_action, uniform_action), greedy).astype(np.int32)
