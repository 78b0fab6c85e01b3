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
        try:
            g = float(self.gamma)
        except (TypeError, ValueError):
            raise ConfigError("gamma", "> 0", self.gamma) from None
        if not math.isfinite(g) or g <= 0:
            raise ConfigError("gamma", "> 0", self.gamma)
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
