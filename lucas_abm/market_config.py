"""The market's parameters and the record of one period.

:class:`MarketConfig` holds the parameters of :class:`lucas_abm.market.LucasMarket` (validated
on construction); :class:`MarketStep` is what one call of
:meth:`lucas_abm.market.LucasMarket.step` returns. The observation's column names and the
backends are defined here too. Every name is re-exported by :mod:`lucas_abm.market`.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from lucas_abm.errors import ConfigError, check_choice, check_int, check_range
from lucas_abm.mechanisms.base import TradingRules

PRIVATE_OBSERVATIONS = ("shares", "bonds", "dividend", "income")
PUBLIC_OBSERVATIONS = ("last_tree_price", "last_bond_price", "last_tree_volume",
                       "last_bond_volume")
BACKENDS = ("auto", "numpy", "numba")
# "auto" takes the compiled kernel up to this many agents. Above, its random-order gather and
# scatter miss the cache and it is no faster than numpy's whole-array operations
# (docs/market.md, benchmark: the kernel is 7.0x faster at N = 1,200, 4.1x at 1e4, 2.2x at
# 1e5, 1.6x at 3e5 and 0.98x at 1e6).
AUTO_NUMBA_MAX_AGENTS = 300_000
# Upper bounds that no feasible run reaches (each per-agent array is 8 N bytes; a run's
# series hold `horizon` rows): they turn a typo like 10**30 into a range, before any work.
MAX_AGENTS = 10 ** 9
MAX_HORIZON = 10 ** 9


@dataclass
class MarketConfig:
    """Parameters of the market; validated on construction (ConfigError names the field).

    ``borrowing_limit`` defaults to one bond lot: an agent can owe at most 0.01, so with one
    share and the thesis dividend (0.0448) next period's income ``s y + b`` stays positive
    unless the agent has sold nearly all its shares. Penalties are per asset and per period:
    an agent posting an invalid tree *and* bond price pays ``2 * invalid_price_penalty``.
    For scale: log utility at the thesis dividend is log(0.0448) = -3.1.
    """

    n_agents: int = 100                 # N >= 2
    horizon: int = 300                  # T: episode cut (truncation, not termination)
    tree_lot: float = 0.01              # delta_s > 0, shares per tree trade
    bond_lot: float = 0.01              # delta_b > 0, bonds per bond trade
    borrowing_limit: float = 0.01       # b >= -borrowing_limit
    initial_shares: float = 1.0         # s_0 >= 0 for every agent
    initial_bonds: float = 0.0          # b_0; zero net supply forces 0
    invalid_price_penalty: float = 1.0  # per asset, for a non-finite / <= 0 / > cap price
    infeasible_trade_penalty: float = 0.1  # per asset, for a matched side that cannot execute
    max_price: float = 10.0             # price cap; posted prices above are invalid
    consumption_floor: float = 1e-6     # utility is evaluated at max(c, floor)
    public_information: bool = False    # observation adds last settlement prices, volumes
    backend: str = "auto"               # auto | numpy | numba: see LucasMarket (never changes a result)

    def __post_init__(self) -> None:
        self.n_agents = check_int("n_agents", self.n_agents, 2, MAX_AGENTS)
        self.horizon = check_int("horizon", self.horizon, 1, MAX_HORIZON)
        for name in ("tree_lot", "bond_lot", "max_price", "consumption_floor"):
            setattr(self, name, check_range(name, getattr(self, name), 0.0, None))
        for name in ("borrowing_limit", "initial_shares", "invalid_price_penalty",
                     "infeasible_trade_penalty"):
            setattr(self, name, check_range(name, getattr(self, name), 0.0, None, low_open=False))
        if check_range("initial_bonds", self.initial_bonds) != 0.0:
            raise ConfigError("initial_bonds", "0 (bonds are in zero net supply)", self.initial_bonds)
        self.initial_bonds = 0.0
        if not isinstance(self.public_information, (bool, np.bool_)):
            raise ConfigError("public_information", "True or False", self.public_information)
        self.public_information = bool(self.public_information)
        check_choice("backend", self.backend, BACKENDS)

    @property
    def rules(self) -> TradingRules:
        return TradingRules(self.tree_lot, self.bond_lot, self.borrowing_limit, self.max_price)


@dataclass
class MarketStep:
    """Outcome of one period. Arrays are [N] float64 unless stated."""

    observation: np.ndarray      # next observation [N, D] float32
    reward: np.ndarray           # u(max(c, floor)) - penalty
    utility: np.ndarray
    penalty: np.ndarray
    consumption: np.ndarray      # c = income - purchases + sales (exact; may be <= 0)
    income: np.ndarray           # e = s y + b
    tree_trade: np.ndarray       # signed shares traded (+ bought, - sold)
    bond_trade: np.ndarray       # signed bonds traded (+ lent, - borrowed)
    tree_volume: float           # lots traded this step
    bond_volume: float
    tree_settlement_price: float  # mean settlement price, nan if no trade
    bond_settlement_price: float
    dividend: float              # y_t used this step
    invalid: np.ndarray          # [N] bool: an invalid posted price (either asset)
    infeasible: np.ndarray       # [N] bool: a matched side that could not execute (either asset)
    truncated: bool              # this step reached the horizon; call reset() next
    t: int = 0                   # period index of this step (0-based)
    endowment: np.ndarray | None = None  # non-tradable income w_t (in income), None if none
    tree_clearing_price: float = math.nan  # an order mechanism's price (also without trade)
    bond_clearing_price: float = math.nan
