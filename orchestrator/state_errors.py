"""Price errors state by state on a finite Markov chain (docs/heterogeneity.md).

A median pooled over all periods is the error of the most frequent state and can hide a
large one in another, so the evaluator (:func:`orchestrator.episode.state_price_errors`),
the report (:func:`orchestrator.population_figures.with_state_errors`) and
``benchmarks/population_learning.py`` all take it per state, here:

    e_s = median { P_t / p(y_t) - 1 : y_t = y_s and period t counted }.
"""
from __future__ import annotations

import numpy as np

from lucas_abm.dividends import nearest_state


def state_index(dividend, states) -> np.ndarray:
    """[T] index of the chain state nearest each dividend y_t (saved dividends are the states'
    floats, so nearest is exact; lucas_abm.dividends.nearest_state)."""
    return nearest_state(np.asarray(dividend, float).reshape(-1), states)


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
