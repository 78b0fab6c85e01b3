"""The vectorised N-agent Lucas-tree market (docs/model.md section 2).

One call of :meth:`LucasMarket.step` is one period t:

1. the dividend ``y_t`` (drawn in the previous period, or by ``reset``) is paid; income
   ``e_t^k = s_t^k y_t + b_t^k`` (last period's bonds mature). Next period's dividend
   ``y_{t+1}`` is drawn now, before the mechanism draws its pairing (it depends on ``y_t``
   only, and drawing it first lets the compiled path write the next observation in the
   same pass); it is revealed in the observation at the end of the period;
2. the agents' actions are posted prices ``(p_t^k, q_t^k)`` for the tree and the bond;
3. the mechanism proposes one-lot trades and the base class settles the feasible ones
   (tree first, then bond; see :mod:`lucas_abm.mechanisms.base`);
4. consumption is what is left, ``c_t^k = e_t^k - p dS^k - q dB^k`` (dS, dB signed trades);
   holdings update ``s_{t+1} = s_t + dS``, ``b_{t+1} = dB`` (one-period bonds);
5. reward ``r_t^k = u(max(c_t^k, c_floor)) - penalty_t^k``.

All accounting is float64 and vectorised over agents (no Python loop over agents); the
observation handed to learners is float32. Invariants (checked by
:func:`invariant_violation`): total shares constant, total bonds zero, total consumption =
total dividends, no negative shares, no bond position below ``-borrowing_limit``.

The parameters and the record of a period: :mod:`lucas_abm.market_config` (re-exported here).
"""
from __future__ import annotations

import copy
import math
from dataclasses import fields

import numpy as np

from lucas_abm import kernels
from lucas_abm.kernels import (BOND_TRADE, CLIPPED, CONSUMPTION, INCOME, INFEASIBLE, INVALID,
                               PENALTY, SHARES, TREE_TRADE)
from lucas_abm.dividends import DividendProcess
from lucas_abm.errors import ConfigError, check_choice, check_int
from lucas_abm.heterogeneous import agent_arrays
from lucas_abm.market_config import (AUTO_NUMBA_MAX_AGENTS, BACKENDS, PRIVATE_OBSERVATIONS,
                                     PUBLIC_OBSERVATIONS, MarketConfig, MarketStep)
from lucas_abm.mechanisms.base import Mechanism, TradingRules, posted_prices
from lucas_abm.mechanisms.orders import OrderMechanism, Orders
from lucas_abm.mechanisms.schedules import Schedules
from lucas_abm.utility import AgentUtility, CRRAUtility

_NO_PUBLIC = np.zeros(0)


class LucasMarket:
    """N agents trading a Lucas tree and a one-period bond through a :class:`Mechanism`.

    Call sequence::

        market = LucasMarket(MarketConfig(), ConstantDividend(), CRRAUtility(1.0),
                             PairwiseMatching(), seed=0)
        obs = market.reset()                      # [N, D] float32
        while True:
            out = market.step(tree_price, bond_price)   # both [N]
            if out.truncated:
                obs = market.reset()

    ``seed`` (or ``reset(seed=...)``) seeds one ``numpy.random.Generator`` used for the
    dividend and the mechanism: the same seed and actions give the same trajectory.

    ``backend`` (default ``config.backend``): ``"numpy"`` runs the mechanism's ``propose`` and
    the base class' settlement (every mechanism); ``"numba"`` runs the whole period as one
    compiled call (:mod:`lucas_abm.kernels`; the library's pairwise mechanisms only, about 7x
    faster at N = 1,200) *instead of* ``propose``; ``"auto"`` (default) takes numba where it
    applies, numba is installed and N <= :data:`AUTO_NUMBA_MAX_AGENTS`. It applies only to a
    class of this package that declares ``compiled_kernel = "pairwise"`` in its own body (not
    inherited): a user's subclass of :class:`~lucas_abm.mechanisms.PairwiseMatching`, or a
    copy of it in the user's file, always runs its own ``propose``; an edited
    ``PairwiseMatching`` inside the package needs ``backend="numpy"``. Both backends give bitwise the same pairings,
    holdings, trades, consumption, rewards and observations for the same seed, so the choice
    never changes a result.
    """

    def __init__(self, config: MarketConfig, dividend: DividendProcess, utility: CRRAUtility,
                 mechanism: Mechanism, seed: int | None = None, backend: str | None = None,
                 population=None, scale_lots: bool = True):
        utilities = (CRRAUtility, AgentUtility) + (() if population is None else (type(None),))
        for name, value, kind in (("config", config, MarketConfig), ("dividend", dividend, DividendProcess),
                                  ("utility", utility, utilities),   # None: the population's gammas
                                  ("mechanism", mechanism, Mechanism)):
            if not isinstance(value, kind):   # a dict, a name or a number failed at the first step
                kinds = kind if isinstance(kind, tuple) else (kind,)
                raise ConfigError(name, "a " + " or ".join(k.__name__ for k in kinds), value)
        if seed is not None:
            check_int("seed", seed, 0)
        backend = config.backend if backend is None else check_choice("backend", backend, BACKENDS)
        # heterogeneous agents (lucas_abm.heterogeneous): per-agent arrays
        self.agents = (None if population is None
                       else agent_arrays(population, config.n_agents, dividend, scale_lots))
        has_kernel = has_compiled_kernel(mechanism)
        if self.agents is not None:
            # lucas_abm.heterogeneous_kernel: per-agent lots, limits and income, at any N
            if backend == "auto":
                backend = "numba" if has_kernel and kernels.AVAILABLE else "numpy"
            if utility is None or isinstance(utility, CRRAUtility):
                utility = AgentUtility(self.agents.gammas)
        if backend == "numba" and not (has_kernel and kernels.AVAILABLE):
            raise ConfigError("backend", f"'auto' or 'numpy' for mechanism {mechanism.name!r} "
                              "('numba' runs only the library's pairwise and bargaining "
                              "mechanisms, and needs numba installed)", backend)
        if backend == "auto":
            backend = "numba" if (has_kernel and kernels.AVAILABLE
                                  and config.n_agents <= AUTO_NUMBA_MAX_AGENTS) else "numpy"
        self.backend = backend
        if backend == "numba":
            kernels.warm_up()
        mechanism.warm_up(config.n_agents)
        self.config = config
        self.dividend_process = dividend
        self.utility = utility
        self.mechanism = mechanism
        self.rules = config.rules
        if self.agents is not None:
            self.rules = TradingRules(config.tree_lot, config.bond_lot, config.borrowing_limit,
                                      config.max_price, self.agents.borrowing_limits,
                                      self.agents.lot_scale)
        self.observation_names: tuple[str, ...] = PRIVATE_OBSERVATIONS + (
            PUBLIC_OBSERVATIONS if config.public_information else ())
        self.n_agents = config.n_agents
        self.horizon = config.horizon
        self.total_shares = (config.n_agents * config.initial_shares if self.agents is None
                             else float(self.agents.initial_shares.sum()))
        self._rng = np.random.default_rng(seed)
        self._kernel = self._compiled_period()
        self.t = 0
        self.shares = self._initial_shares()
        self.bonds = np.zeros(self.n_agents)
        self.dividend = math.nan
        self._last = np.zeros(4)  # last tree/bond settlement price, tree/bond volume share
        self._needs_reset = True

    def _compiled_period(self) -> kernels.PairwisePeriod | None:
        """The compiled period for this market's rules and generator (numba backend)."""
        if self.backend != "numba":
            return None
        cfg = self.config
        if self.agents is not None:
            from lucas_abm.heterogeneous_kernel import HeterogeneousPairwisePeriod

            return HeterogeneousPairwisePeriod(
                self._rng, self.mechanism.theta, cfg.tree_lot, cfg.bond_lot,
                self.agents.lot_scale, self.agents.borrowing_limits, cfg.max_price,
                cfg.invalid_price_penalty, cfg.infeasible_trade_penalty, cfg.consumption_floor)
        return kernels.PairwisePeriod(self._rng, self.mechanism.theta, cfg.tree_lot,
                                      cfg.bond_lot, cfg.borrowing_limit, cfg.max_price,
                                      cfg.invalid_price_penalty, cfg.infeasible_trade_penalty,
                                      cfg.consumption_floor)

    # ------------------------------------------------------------------ episode control
    def reset(self, seed: int | None = None) -> np.ndarray:
        """Start an episode: endowments ``(s_0, b_0)``, dividend ``y_0``; return the observation."""
        if seed is not None:
            self._rng = np.random.default_rng(seed)
            self._kernel = self._compiled_period()
        self.t = 0
        self.shares = self._initial_shares()
        self.bonds = np.full(self.n_agents, self.config.initial_bonds)
        self.dividend = float(self.dividend_process.initial(self._rng))
        if self.agents is not None and self.agents.endowment is not None:
            self.agents.endowment.reset(self._rng)
        self._last = np.zeros(4)
        self._needs_reset = False
        return self.observation()

    def _initial_shares(self) -> np.ndarray:
        if self.agents is None:
            return np.full(self.n_agents, self.config.initial_shares)
        return self.agents.initial_shares.copy()

    def _endowment(self) -> np.ndarray | None:
        """This period's non-tradable income w_t (None without one)."""
        if self.agents is None or self.agents.endowment is None:
            return None
        return self.agents.endowment.current()

    def observation(self) -> np.ndarray:
        """[N, D] float32 with columns :attr:`observation_names`.

        Private: shares ``s_t``, bonds ``b_t``, dividend ``y_t``, income ``s_t y_t + b_t``.
        Public (``public_information=True``), equal for all agents: the last settlement price
        of tree and bond (carried forward from the last period with a trade; 0 before any
        trade) and last period's volumes as the fraction of the N//2 possible trades.
        """
        if self.backend == "numba" and (self.agents is None or self.agents.endowment is None):
            return kernels.observation(self.shares, self.bonds, self.dividend,
                                       self._last if self.config.public_information
                                       else _NO_PUBLIC)
        obs = np.empty((self.n_agents, len(self.observation_names)), dtype=np.float32)
        obs[:, 0] = self.shares
        obs[:, 1] = self.bonds
        obs[:, 2] = self.dividend
        obs[:, 3] = self.shares * self.dividend + self.bonds
        endowment = self._endowment()
        if endowment is not None:
            obs[:, 3] += endowment
        if self.config.public_information:
            obs[:, 4:] = self._last
        return obs

    # ------------------------------------------------------------------ one period
    def step(self, tree_price: np.ndarray, bond_price: np.ndarray,
             tree_quantity: np.ndarray | None = None,
             bond_quantity: np.ndarray | None = None,
             tree_slope: np.ndarray | None = None,
             bond_slope: np.ndarray | None = None) -> MarketStep:
        """Trade one period (see the module docstring). Posted prices (both [N]), or, with
        ``tree_quantity`` and ``bond_quantity`` (signed, [N]), limit orders for an
        :class:`~lucas_abm.mechanisms.orders.OrderMechanism` (the prices are the limits), or,
        with ``tree_slope`` and ``bond_slope`` ([N], >= 0), linear demand schedules for the
        call auction (the prices are reservation values, the quantities unused;
        :mod:`lucas_abm.mechanisms.schedules`)."""
        if self._needs_reset:
            raise RuntimeError("LucasMarket.step() called before reset() (or after the step "
                               "that reached the horizon); call reset() first")
        schedules = tree_slope is not None or bond_slope is not None
        orders = schedules or tree_quantity is not None or bond_quantity is not None
        if self.backend == "numba" and not orders:
            return self._step_compiled(tree_price, bond_price)
        cfg = self.config
        y = self.dividend
        next_dividend = float(self.dividend_process.next(y, self._rng))
        income = self.shares * y + self.bonds
        endowment = self._endowment()
        if endowment is not None:
            income = income + endowment
            self.agents.endowment.advance(self._rng)
        if schedules:
            if not hasattr(self.mechanism, "execute_schedules"):
                raise ConfigError("mechanism", "call-auction (or a mechanism with "
                                  "execute_schedules) for demand schedules", self.mechanism.name)
            done = self.mechanism.execute_schedules(
                Schedules(tree_price, tree_slope, bond_price, bond_slope),
                income, self.shares, self.bonds, self.rules)
        elif orders:
            if not isinstance(self.mechanism, OrderMechanism):
                raise ConfigError("mechanism", "an order mechanism (e.g. call-auction) for orders "
                                  "with quantities", self.mechanism.name)
            zero = np.zeros(self.n_agents)
            done = self.mechanism.execute_orders(
                Orders(tree_price, zero if tree_quantity is None else tree_quantity, bond_price,
                       zero if bond_quantity is None else bond_quantity),
                income, self.shares, self.rules, self._rng)
        else:
            done = self.mechanism.execute(tree_price, bond_price, income, self.shares,
                                          self.rules, self._rng)
        consumption = income - done.tree_cash - done.bond_cash
        utility = self.utility(np.maximum(consumption, cfg.consumption_floor))
        invalid = done.invalid_tree | done.invalid_bond
        infeasible = done.infeasible_tree | done.infeasible_bond
        if invalid.any() or infeasible.any():  # penalties are per asset
            penalty = (cfg.invalid_price_penalty * (done.invalid_tree.astype(np.float64)
                                                    + done.invalid_bond)
                       + cfg.infeasible_trade_penalty * (done.infeasible_tree.astype(np.float64)
                                                         + done.infeasible_bond))
        else:
            penalty = np.zeros(self.n_agents)

        # last period's bonds matured into income
        t, truncated = self._end_period(self.shares + done.tree_trade, done.bond_trade,
                                        done.tree_volume, done.bond_volume,
                                        done.tree_settlement_price, done.bond_settlement_price,
                                        next_dividend)
        return MarketStep(
            observation=self.observation(), reward=utility - penalty, utility=utility,
            penalty=penalty, consumption=consumption, income=income,
            tree_trade=done.tree_trade, bond_trade=done.bond_trade,
            tree_volume=float(done.tree_volume), bond_volume=float(done.bond_volume),
            tree_settlement_price=done.tree_settlement_price,
            bond_settlement_price=done.bond_settlement_price, dividend=y, invalid=invalid,
            infeasible=infeasible, truncated=truncated, t=t, endowment=endowment,
            tree_clearing_price=done.tree_clearing_price,
            bond_clearing_price=done.bond_clearing_price)

    def _step_compiled(self, tree_price, bond_price) -> MarketStep:
        """:meth:`step` through :class:`lucas_abm.kernels.PairwisePeriod` (same results)."""
        cfg = self.config
        n = self.n_agents
        tree_price = posted_prices("tree_price", tree_price, n)
        bond_price = posted_prices("bond_price", bond_price, n)
        y = self.dividend
        next_dividend = float(self.dividend_process.next(y, self._rng))
        endowment = self._endowment()
        income = {}  # a population's non-tradable income, w_t and w_{t+1}, as on numpy
        if endowment is not None:
            self.agents.endowment.advance(self._rng)
            income = {"endowment": endowment, "next_endowment": self._endowment()}
        out, flags, obs, tree_volume, bond_volume, tree_mean, bond_mean = self._kernel(
            tree_price, bond_price, self.shares, self.bonds, y, next_dividend,
            len(self.observation_names), **income)
        utility = self.utility.of_positive(out[CLIPPED])  # rows indexed: faster than unpacking
        penalty = out[PENALTY]
        bond_trade = out[BOND_TRADE]
        t, truncated = self._end_period(out[SHARES], bond_trade, tree_volume, bond_volume,
                                        tree_mean, bond_mean, next_dividend)
        if cfg.public_information:
            obs[:, 4:] = self._last
        # positional, in MarketStep's field order: 17 keywords cost 0.45 us a step more
        # (tests/test_kernels.py compares every field with the numpy path's keyword call)
        return MarketStep(obs,                     # observation
                          utility - penalty,       # reward
                          utility,                 # utility
                          penalty,                 # penalty
                          out[CONSUMPTION],        # consumption
                          out[INCOME],             # income
                          out[TREE_TRADE],         # tree_trade
                          bond_trade,              # bond_trade
                          float(tree_volume),      # tree_volume
                          float(bond_volume),      # bond_volume
                          tree_mean,               # tree_settlement_price
                          bond_mean,               # bond_settlement_price
                          y,                       # dividend
                          flags[INVALID],          # invalid
                          flags[INFEASIBLE],       # infeasible
                          truncated,               # truncated
                          t,                       # t
                          endowment)               # endowment

    def _end_period(self, shares: np.ndarray, bonds: np.ndarray, tree_volume: int,
                    bond_volume: int, tree_mean: float, bond_mean: float,
                    next_dividend: float) -> tuple[int, bool]:
        """Holdings ``s_{t+1}, b_{t+1}``; the clock and the cut at T; the public record of
        this period's trading; the dividend ``y_{t+1}``. Returns (t, truncated)."""
        self.shares = shares
        self.bonds = bonds
        t = self.t
        self.t += 1
        truncated = self.t >= self.horizon
        self._needs_reset = truncated
        if self.config.public_information:
            pairs = max(self.n_agents // 2, 1)
            if tree_volume:
                self._last[0] = tree_mean
            if bond_volume:
                self._last[1] = bond_mean
            self._last[2] = tree_volume / pairs
            self._last[3] = bond_volume / pairs
        self.dividend = next_dividend
        return t, truncated

    # ------------------------------------------------------------------ checkpointing
    def state_dict(self) -> dict:
        """Everything needed to resume exactly, including the RNG bit-generator state and a
        copy of the dividend process (some, like GrowthMarkovChain, carry a hidden regime)."""
        return {"t": self.t, "shares": self.shares.copy(), "bonds": self.bonds.copy(),
                "dividend": self.dividend, "last": self._last.copy(),
                "needs_reset": self._needs_reset,
                "rng": self._rng.bit_generator.state,
                "dividend_process": copy.deepcopy(self.dividend_process),
                "config": _state_config(self.config),
                **({"endowment_state": self.agents.endowment.state.copy()}
                   if self.agents is not None and self.agents.endowment is not None
                   and self.agents.endowment.state is not None else {})}

    def load_state_dict(self, d: dict) -> None:
        """Restore a :meth:`state_dict`; the market must have the same configuration."""
        if {k: v for k, v in d["config"].items() if k != "backend"} != _state_config(self.config):
            raise ConfigError("state_dict", "from a market with the same MarketConfig",
                              d["config"])
        self.t = int(d["t"])
        self.shares = np.array(d["shares"], dtype=np.float64)
        self.bonds = np.array(d["bonds"], dtype=np.float64)
        self.dividend = float(d["dividend"])
        self._last = np.array(d["last"], dtype=np.float64)
        self._needs_reset = bool(d["needs_reset"])
        self._rng.bit_generator.state = d["rng"]
        if "dividend_process" in d:
            self.dividend_process = copy.deepcopy(d["dividend_process"])
        if "endowment_state" in d and self.agents is not None and self.agents.endowment is not None:
            self.agents.endowment.state = np.array(d["endowment_state"], dtype=np.float64)


def has_compiled_kernel(mechanism: Mechanism) -> bool:
    """Whether :mod:`lucas_abm.kernels` may run ``mechanism``'s period: its class is one of this
    package's and says so in its own body (a subclass or a user's copy never inherits it)."""
    cls = type(mechanism)
    return (cls.__dict__.get("compiled_kernel") == "pairwise"
            and cls.__module__.startswith("lucas_abm."))


def _state_config(config: MarketConfig) -> dict:
    """The configuration a state belongs to; the backend is left out (it never changes a result)."""
    return {f.name: getattr(config, f.name) for f in fields(config) if f.name != "backend"}


def invariant_violation(market: LucasMarket, step: MarketStep) -> float:
    """Largest violation, per agent, of the market invariants after ``step``.

    Returns the max of ``|sum s - S| / N``, ``|sum b| / N``, ``|sum c - S y| / N``,
    ``max(0, -min s)`` and ``max(0, -borrowing_limit - min b)``, where ``S`` is the total
    share supply and ``y`` the dividend of the step. Zero up to round-off for a correct market.
    """
    n = market.n_agents
    s, b = market.shares, market.bonds
    goods = market.total_shares * step.dividend
    if step.endowment is not None:  # non-tradable income is consumed too
        goods = goods + step.endowment.sum()
    limits = market.rules.borrowing_limits
    below = (max(0.0, -market.config.borrowing_limit - float(b.min())) if limits is None
             else max(0.0, float((-limits - b).max())))
    return max(abs(s.sum() - market.total_shares) / n,
               abs(b.sum()) / n,
               abs(step.consumption.sum() - goods) / n,
               max(0.0, -float(s.min())),
               below)
