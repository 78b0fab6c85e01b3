"""Per-agent quantities of a heterogeneous market (docs/model.md section 4.1, docs/market.md).

A population (:class:`lucas_abm.population.PopulationArrays`) gives every agent i its own

* initial tree shares ``s0_i`` (proportional to size, sum N) and no bonds;
* borrowing limit ``b_i >= -borrowing_limit_i`` (the type's limit times ``s0_i``);
* CRRA ``gamma_i >= 0`` (:class:`lucas_abm.utility.AgentUtility`; 0 = linear);
* lots ``delta_s s0_i``, ``delta_b s0_i`` for posted-price trades (a pair trades the lot of
  its smaller side), so a large trader trades large;
* a non-tradable income (:class:`Endowment`), ``w_it = s0_i ybar z_it``, with
  ``z_it = mean_i + u_it``, ``u_it = rho_i u_i,t-1 + sigma_i eps_it`` (eps iid N(0, 1)),
  ``u_i0`` drawn from its stationary law; ``ybar`` the mean dividend. It adds to income,
  ``e_t^i = s_t^i y_t + b_t^i + w_it``, so goods clear as ``sum c = S y + sum w``.

Everything is a whole-array operation: no loop over agents.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from lucas_abm.dividends import (ConstantDividend, DividendProcess, IIDLognormalDividend,
                                 LogAR1Dividend, MarkovChainDividend)
from lucas_abm.errors import ConfigError


def mean_dividend(process: DividendProcess) -> float:
    """The stationary mean dividend E[y] (the unit of non-tradable income)."""
    if isinstance(process, (ConstantDividend, IIDLognormalDividend)):
        return float(process.moment(1.0))
    if isinstance(process, MarkovChainDividend):
        return float(process.stationary_distribution @ np.asarray(process.states))
    if isinstance(process, LogAR1Dividend):
        return math.exp(process.stationary_mean_log + 0.5 * process.stationary_sd_log ** 2)
    y0 = getattr(process, "y0", None)
    return float(y0) if y0 is not None else 1.0


@dataclass
class Endowment:
    """Non-tradable income ``w_it = scale_i (mean_i + u_it)``, ``u`` a per-agent AR(1)."""

    scale: np.ndarray        # s0_i * ybar
    mean: np.ndarray
    volatility: np.ndarray
    persistence: np.ndarray
    state: np.ndarray | None = None

    def reset(self, rng: np.random.Generator) -> None:
        """u_i0 from the stationary law N(0, sigma_i^2 / (1 - rho_i^2))."""
        sd = self.volatility / np.sqrt(1.0 - self.persistence ** 2)
        self.state = sd * rng.standard_normal(self.scale.size)

    def current(self) -> np.ndarray:
        """w_t, [N]."""
        return self.scale * (self.mean + self.state)

    def advance(self, rng: np.random.Generator) -> None:
        """u_{t+1} = rho u_t + sigma eps_{t+1}."""
        self.state = self.persistence * self.state + self.volatility * rng.standard_normal(
            self.scale.size)


@dataclass
class AgentArrays:
    """What the market needs per agent; built by :func:`agent_arrays`."""

    initial_shares: np.ndarray
    borrowing_limits: np.ndarray
    gammas: np.ndarray
    lot_scale: np.ndarray | None
    endowment: Endowment | None
    type_index: np.ndarray | None = None
    names: tuple = ()


def agent_arrays(population, n_agents: int, dividend: DividendProcess,
                 scale_lots: bool = True) -> AgentArrays:
    """Per-agent arrays from a :class:`~lucas_abm.population.PopulationArrays`."""
    s0 = np.ascontiguousarray(population.initial_shares, dtype=np.float64)
    if s0.shape != (n_agents,):
        raise ConfigError("population", f"{n_agents} agents (market.n_agents)", s0.size)
    has_income = bool(np.any(population.income_mean != 0) or np.any(population.income_volatility != 0))
    endowment = None
    if has_income:
        endowment = Endowment(s0 * mean_dividend(dividend),
                              np.asarray(population.income_mean, float),
                              np.asarray(population.income_volatility, float),
                              np.asarray(population.income_persistence, float))
    return AgentArrays(s0, np.ascontiguousarray(population.borrowing_limit, dtype=np.float64),
                       np.asarray(population.gamma, float), s0 if scale_lots else None,
                       endowment, getattr(population, "type_index", None),
                       tuple(getattr(population, "names", ())))
