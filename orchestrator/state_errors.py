"""Price errors state by state on a finite Markov chain (docs/heterogeneity.md).

A median pooled over all periods is the error of the most frequent state and can hide a
large one in another, so the evaluator (:func:`orchestrator.episode.state_price_errors`),
the report (:func:`orchestrator.population_figures.with_state_errors`) and
``benchmarks/population_learning.py`` all take it per state, here:

    e_s = median { P_t / p(y_t) - 1 : y_t = y_s and period t counted }.

For an order mechanism the periods counted are those with a clearing price
(:func:`priced_periods`): the asset traded, or, with demand schedules, the market was at rest
at the reported price (every posted value equal to it, so every schedule a s0_i (1 - P / v_i)
is 0). A period without trade otherwise reports the midpoint of quotes that commit no one.
"""
from __future__ import annotations

import numpy as np

from lucas_abm.dividends import nearest_state


def state_index(dividend, states) -> np.ndarray:
    """[T] index of the chain state nearest each dividend y_t (saved dividends are the states'
    floats, so nearest is exact; lucas_abm.dividends.nearest_state)."""
    return nearest_state(np.asarray(dividend, float).reshape(-1), states)


AT_REST_RTOL = 1e-6   # posted values within this (relative) of the clearing price: at rest


def at_rest(clearing: np.ndarray, posted: np.ndarray) -> np.ndarray:
    """[T] bool: every posted value [T, K] (all agents, or a sample) within AT_REST_RTOL of the
    period's clearing price [T]: a demand-schedules market at rest at that price."""
    clearing = np.asarray(clearing, float)[:, None]
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.all(np.abs(np.asarray(posted, float) / clearing - 1.0) <= AT_REST_RTOL, axis=1)


def priced_periods(volume: np.ndarray, clearing: np.ndarray, posted: np.ndarray | None = None,
                   schedules: bool = False) -> np.ndarray:
    """[T] bool: periods whose clearing price is a price (module docstring): volume > 0 with a
    finite price, or, for ``schedules`` with the posted values, :func:`at_rest`."""
    priced = (np.asarray(volume, float) > 1e-12) & np.isfinite(np.asarray(clearing, float))
    if schedules and posted is not None:
        priced |= at_rest(clearing, posted)
    return priced


def errors_by_state(price: np.ndarray, star: np.ndarray, state: np.ndarray, n_states: int,
                    counted: np.ndarray | None = None) -> list[float | None]:
    """``e_s`` for s = 0..n_states-1 (module docstring): ``price`` and ``star`` are [T] (the
    equilibrium price of each period's state), ``counted`` [T] bool selects the periods (all by
    default; e.g. those in which the asset traded). None for a state without such a period."""
    keep = np.ones(len(state), bool) if counted is None else np.asarray(counted, bool)
    out = []
    for s in range(n_states):    # two or a few states; each a masked median over T periods
        sel = keep & (state == s)
        out.append(float(np.median(price[sel] / star[sel] - 1.0)) if sel.any() else None)
    return out
