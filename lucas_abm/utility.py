"""CRRA period utility (docs/model.md section 1).

    u(c)  = c^(1 - gamma) / (1 - gamma)      (gamma != 1)
    u(c)  = log c                            (gamma == 1)
    u'(c) = c^(-gamma)
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from lucas_abm.errors import ConfigError


@dataclass(frozen=True)
class CRRAUtility:
    """Constant relative risk aversion ``gamma`` > 0 (gamma = 1 is log utility).

    Both methods are vectorised over ``c``. Consumption must be positive: at c = 0 the
    utility is -inf for gamma >= 1; at c < 0 the result is nan (no warning is raised, so a
    market can turn such values into its own penalty).
    """

    gamma: float

    def __post_init__(self) -> None:
        if isinstance(self.gamma, bool):   # float(True) = 1 would be log utility
            raise ConfigError("gamma", "a number > 0", self.gamma)
        try:
            g = float(self.gamma)
        except (TypeError, ValueError):
            raise ConfigError("gamma", "a number > 0", self.gamma) from None
        if not math.isfinite(g) or g <= 0:
            raise ConfigError("gamma", "a finite number > 0" if not math.isfinite(g) else "> 0",
                              self.gamma)
        object.__setattr__(self, "gamma", g)

    @property
    def is_log(self) -> bool:
        return self.gamma == 1.0

    def __call__(self, c: np.ndarray) -> np.ndarray:
        """u(c) = c^(1-gamma)/(1-gamma), log c at gamma = 1."""
        c = np.asarray(c, dtype=float)
        with np.errstate(divide="ignore", invalid="ignore"):
            out = self.of_positive(c)
            return out if self.is_log else np.where(c < 0, np.nan, out)

    def of_positive(self, c: np.ndarray) -> np.ndarray:
        """u(c) for a float64 array with every ``c > 0`` (no checks; the market's fast path,
        which floors consumption first). The same ufunc calls as :meth:`__call__`, so the
        same numbers (:meth:`__call__` adds NaN for c < 0). No ``out=``: NumPy's SIMD log
        may round differently when given one."""
        if self.gamma == 1.0:  # is_log, without a property call: this runs every period
            return np.log(c)
        return np.power(c, 1.0 - self.gamma) / (1.0 - self.gamma)

    def marginal(self, c: np.ndarray) -> np.ndarray:
        """u'(c) = c^(-gamma)."""
        c = np.asarray(c, dtype=float)
        with np.errstate(divide="ignore", invalid="ignore"):
            out = np.power(c, -self.gamma)
            return np.where(c < 0, np.nan, out)


class AgentUtility:
    """Per-agent CRRA utility: agent i has its own ``gamma_i >= 0`` (docs/heterogeneity.md).

        u_i(c) = c^(1 - gamma_i) / (1 - gamma_i)   (gamma_i not in {0, 1})
        u_i(c) = log c                              (gamma_i = 1)
        u_i(c) = c                                  (gamma_i = 0: linear, risk neutral)

    Agents with equal gamma form runs of consecutive indices (a population's types are
    contiguous); each run is evaluated as one slice with the same ufuncs as
    :class:`CRRAUtility`, so a run of gamma g gives bitwise ``CRRAUtility(g)``'s numbers. The
    loop is over runs (at most the number of types), never over agents.
    """

    def __init__(self, gammas) -> None:
        g = np.asarray(gammas, dtype=np.float64).reshape(-1)
        if g.size == 0 or not np.all(np.isfinite(g)) or np.any(g < 0):
            bad = g[~(np.isfinite(g) & (g >= 0))]
            raise ConfigError("gamma", ">= 0 for every agent (0 = linear utility)",
                              float(bad[0]) if bad.size else "an empty array")
        self.gammas = g
        edges = np.flatnonzero(g[1:] != g[:-1]) + 1
        starts = np.concatenate(([0], edges))
        stops = np.concatenate((edges, [g.size]))
        self.runs = tuple((int(a), int(b), float(g[a])) for a, b in zip(starts, stops))

    @property
    def n_agents(self) -> int:
        return int(self.gammas.size)

    def of_positive(self, c: np.ndarray) -> np.ndarray:
        """u_i(c_i) for a float64 [N] array with every ``c_i > 0`` (the market floors c first)."""
        if len(self.runs) == 1:
            return _crra(c, self.runs[0][2])
        out = np.empty_like(c)
        for start, stop, gamma in self.runs:
            out[start:stop] = _crra(c[start:stop], gamma)
        return out

    def __call__(self, c: np.ndarray) -> np.ndarray:
        """u_i(c_i); NaN where c_i < 0, -inf at c_i = 0 for gamma_i >= 1."""
        c = np.asarray(c, dtype=float)
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(c < 0, np.nan, self.of_positive(c))

    def marginal(self, c: np.ndarray) -> np.ndarray:
        """u_i'(c_i) = c_i^(-gamma_i)."""
        c = np.asarray(c, dtype=float)
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(c < 0, np.nan, np.power(c, -self.gammas))

    def __repr__(self) -> str:
        return f"AgentUtility({len(self.runs)} runs over {self.n_agents} agents)"


def _crra(c: np.ndarray, gamma: float) -> np.ndarray:
    """CRRA utility of one gamma >= 0, the ufuncs of :meth:`CRRAUtility.of_positive`."""
    if gamma == 1.0:
        return np.log(c)
    if gamma == 0.0:
        return c.copy()
    return np.power(c, 1.0 - gamma) / (1.0 - gamma)
