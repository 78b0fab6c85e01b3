"""Dividend processes for the Lucas tree (docs/model.md section 1).

Each process draws the common dividend ``y_t`` paid by one tree share:

- :class:`ConstantDividend`      ``y_t = ybar``
- :class:`IIDLognormalDividend`  ``log y_t ~ N(mu, sigma^2)`` i.i.d.
- :class:`MarkovChainDividend`   ``y_t`` in ``states``, ``P(y_{t+1} = y_j | y_t = y_i) = transition[i][j]``
- :class:`LogAR1Dividend`        ``log y_{t+1} = mu + alpha log y_t + sigma eps_{t+1}``, eps ~ N(0, 1)
- :class:`GrowthMarkovChain`     ``y_{t+1} = lambda_{t+1} y_t`` with growth ``lambda`` in
  ``{1+mu+delta, 1+mu-delta}`` following a symmetric two-state chain with stay-probability
  ``phi`` (Mehra and Prescott 1985).

Usage by a market: ``y = process.initial(rng)`` once, then ``y = process.next(y, rng)`` per
step. All processes are frozen dataclasses validated on construction (a bad parameter raises
:class:`~lucas_abm.errors.ConfigError` naming the field). The keys users write in configs and
on the command line (``ybar`` for a mean dividend, ...) are mapped onto these constructors by
:mod:`lucas_abm.dividend_params`.
"""
from __future__ import annotations

import math
from abc import ABC, abstractmethod
from dataclasses import MISSING, dataclass, field, fields
from typing import ClassVar

import numpy as np

from lucas_abm.errors import ConfigError, check_range

#: The thesis' replication dividend: the mean of (1/100) * Lognormal(1, 1) (docs/model.md section 1).
THESIS_YBAR: float = 0.01 * math.exp(1.5)

_ROW_SUM_TOL = 1e-8


class DividendProcess(ABC):
    """A (possibly stochastic) law of motion for the tree's dividend ``y_t``."""

    name: ClassVar[str]

    @abstractmethod
    def initial(self, rng: np.random.Generator) -> float:
        """y_0: deterministic for a constant dividend, a draw from the stationary law otherwise."""

    @abstractmethod
    def next(self, y: float, rng: np.random.Generator) -> float:
        """One draw of y_{t+1} given y_t = ``y``."""

    def sample_path(self, length: int, rng: np.random.Generator) -> np.ndarray:
        """``length`` consecutive dividends y_0, ..., y_{length-1} starting from :meth:`initial`."""
        length = int(length)
        if length < 1:
            raise ConfigError("length", ">= 1", length)
        path = np.empty(length)
        y = self.initial(rng)
        path[0] = y
        for t in range(1, length):
            y = self.next(y, rng)
            path[t] = y
        return path


def _set(obj, name: str, value) -> None:
    object.__setattr__(obj, name, value)


#: The smallest dividend level: float64's smallest normal number, 2.2e-308. Below it a level is
#: denormal and loses digits (ybar 1e-320 was stored as 9.99989e-321).
SMALLEST_LEVEL = float(np.finfo(np.float64).tiny)


@dataclass(frozen=True)
class ConstantDividend(DividendProcess):
    """y_t = ybar for every t; ``ybar`` > 0 (default: the thesis' 0.01 exp(1.5))."""

    name: ClassVar[str] = "constant"
    ybar: float = THESIS_YBAR

    def __post_init__(self) -> None:
        _set(self, "ybar", check_range("ybar", self.ybar, SMALLEST_LEVEL, None, low_open=False))

    def moment(self, k: float) -> float:
        """E[y^k] = ybar^k."""
        return self.ybar ** k

    def initial(self, rng: np.random.Generator) -> float:
        return self.ybar

    def next(self, y: float, rng: np.random.Generator) -> float:
        return self.ybar


@dataclass(frozen=True)
class IIDLognormalDividend(DividendProcess):
    """log y_t ~ N(mu, sigma^2), independent over time; sigma >= 0."""

    name: ClassVar[str] = "iid-lognormal"
    mu: float
    sigma: float

    def __post_init__(self) -> None:
        _set(self, "mu", check_range("mu", self.mu))
        _set(self, "sigma", check_range("sigma", self.sigma, 0.0, None, low_open=False))

    def moment(self, k: float) -> float:
        """E[y^k] = exp(k mu + k^2 sigma^2 / 2)."""
        return math.exp(k * self.mu + 0.5 * (k * self.sigma) ** 2)

    def initial(self, rng: np.random.Generator) -> float:
        return math.exp(self.mu + self.sigma * rng.standard_normal())

    def next(self, y: float, rng: np.random.Generator) -> float:
        return math.exp(self.mu + self.sigma * rng.standard_normal())


def stationary_distribution(transition: np.ndarray) -> np.ndarray:
    """pi with pi P = pi and sum(pi) = 1 (least-squares; unique for an irreducible chain)."""
    n = transition.shape[0]
    a = np.vstack([transition.T - np.eye(n), np.ones((1, n))])
    rhs = np.zeros(n + 1)
    rhs[-1] = 1.0
    pi = np.linalg.lstsq(a, rhs, rcond=None)[0]
    pi = np.clip(pi, 0.0, None)
    return pi / pi.sum()


def nearest_state(y, states) -> np.ndarray:
    """Index of the chain state nearest each dividend level (same shape as ``y``): exact for
    levels that are states, as simulated and saved dividends are."""
    y = np.asarray(y, dtype=float)
    return np.abs(y[..., None] - np.asarray(states, dtype=float)).argmin(axis=-1)


def _not_numbers(value) -> bool:
    """True if ``value`` (a number or nested lists of them) holds a boolean or a string, which
    float() would take (``true`` as 1, ``'0.5'`` as 0.5)."""
    if isinstance(value, (list, tuple, np.ndarray)):
        return any(_not_numbers(v) for v in value)
    return isinstance(value, (bool, np.bool_, str, bytes))


def validate_transition(transition, n: int, field_name: str = "transition") -> np.ndarray:
    """An n x n row-stochastic matrix, or ConfigError naming ``field_name``. Rows whose sums
    are within 1e-8 of 1 but not 1 are divided by their sums: a chain that leaks probability
    has no stationary law, and near beta = 1 the leak moves prices (rows summing to 1 + 1e-8
    put p/y 5% off at beta = 0.9999999)."""
    try:
        if _not_numbers(transition):
            raise TypeError
        p = np.array(transition, dtype=float)
    except (TypeError, ValueError):
        raise ConfigError(field_name, f"{n} rows of {n} probabilities", transition) from None
    if p.shape != (n, n):
        raise ConfigError(field_name, f"{n} rows of {n} probabilities (one row per state)",
                          detail=f"got shape {p.shape}" if p.ndim else f"got {transition!r}")
    if not np.all(np.isfinite(p)) or np.any(p < 0) or np.any(p > 1):
        raise ConfigError(field_name, "probabilities in [0, 1]", p.tolist())
    sums = p.sum(axis=1)
    if np.any(np.abs(sums - 1.0) > _ROW_SUM_TOL):
        raise ConfigError(field_name, "rows that sum to 1", None,
                          detail="row sums " + ", ".join(f"{s:.10g}" for s in sums))
    return np.where((sums == 1.0)[:, None], p, p / sums[:, None])   # exact rows stay bitwise


@dataclass(frozen=True)
class MarkovChainDividend(DividendProcess):
    """A finite Markov chain on positive, distinct dividend levels ``states``.

    ``transition[i][j] = P(y_{t+1} = states[j] | y_t = states[i])``; rows sum to 1.
    ``initial`` draws from the stationary distribution, or, with ``initial_state`` (an index
    into ``states``), returns that state (every episode starts there, as the complete-markets
    equilibrium of docs/heterogeneity.md is valued from a given initial state).
    """

    name: ClassVar[str] = "markov"
    states: tuple
    transition: tuple
    initial_state: int | None = None
    _cumulative: np.ndarray = field(init=False, repr=False, compare=False)
    _index: dict = field(init=False, repr=False, compare=False)
    _stationary: np.ndarray = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        try:
            if _not_numbers(self.states):
                raise TypeError
            states = tuple(float(s) for s in self.states)
        except (TypeError, ValueError):
            raise ConfigError("states", "a list of positive numbers", self.states) from None
        if not states:
            raise ConfigError("states", "a non-empty list of positive numbers", list(states))
        if not all(math.isfinite(s) and s >= SMALLEST_LEVEL for s in states):
            raise ConfigError("states", f"finite numbers >= {SMALLEST_LEVEL:.4g} (float64's "
                              "smallest normal number; below, levels lose their digits)", list(states))
        if len(set(states)) != len(states):
            raise ConfigError("states", "distinct numbers", list(states))
        p = validate_transition(self.transition, len(states))
        if self.initial_state is not None:
            i = self.initial_state
            if isinstance(i, (bool, np.bool_)) or not isinstance(i, (int, np.integer)) or not 0 <= i < len(states):
                raise ConfigError("initial_state", f"a state index in [0, {len(states) - 1}] "
                                  "(0 = the first state), or absent for a stationary draw", i)
            _set(self, "initial_state", int(i))
        _set(self, "states", states)
        _set(self, "transition", tuple(tuple(row) for row in p.tolist()))
        cum = np.cumsum(p, axis=1)
        cum[:, -1] = 1.0
        _set(self, "_cumulative", cum)
        _set(self, "_index", {s: i for i, s in enumerate(states)})
        _set(self, "_stationary", stationary_distribution(p))

    @property
    def n_states(self) -> int:
        return len(self.states)

    @property
    def transition_matrix(self) -> np.ndarray:
        return np.array(self.transition)

    @property
    def stationary_distribution(self) -> np.ndarray:
        return self._stationary.copy()

    def state_index(self, y) -> np.ndarray:
        """Index of each dividend level in ``states`` (ValueError if a level is not a state)."""
        y = np.asarray(y, dtype=float)
        s = np.asarray(self.states)
        idx = nearest_state(y, s)
        if not np.allclose(s[idx], y, rtol=1e-9, atol=0.0):
            raise ValueError(f"dividend {y.tolist()} is not a state of the chain {list(self.states)}")
        return idx

    def initial(self, rng: np.random.Generator) -> float:
        if self.initial_state is not None:
            return self.states[self.initial_state]
        i = int(np.searchsorted(np.cumsum(self._stationary), rng.random(), side="right"))
        return self.states[min(i, self.n_states - 1)]

    def next(self, y: float, rng: np.random.Generator) -> float:
        i = self._index.get(y)
        if i is None:
            i = int(self.state_index(y))
        j = int(np.searchsorted(self._cumulative[i], rng.random(), side="right"))
        return self.states[min(j, self.n_states - 1)]


@dataclass(frozen=True)
class LogAR1Dividend(DividendProcess):
    """log y_{t+1} = mu + alpha log y_t + sigma eps_{t+1}, eps ~ N(0, 1), |alpha| < 1, sigma >= 0.

    Stationary law: log y ~ N(mu/(1-alpha), sigma^2/(1-alpha^2)).
    """

    name: ClassVar[str] = "log-ar1"
    alpha: float
    sigma: float
    mu: float = 0.0

    def __post_init__(self) -> None:
        _set(self, "alpha", check_range("alpha", self.alpha, -1.0, 1.0))
        _set(self, "sigma", check_range("sigma", self.sigma, 0.0, None, low_open=False))
        _set(self, "mu", check_range("mu", self.mu))

    @property
    def stationary_mean_log(self) -> float:
        return self.mu / (1.0 - self.alpha)

    @property
    def stationary_sd_log(self) -> float:
        return self.sigma / math.sqrt(1.0 - self.alpha ** 2)

    def log_mean_var(self, log_y, n) -> tuple[np.ndarray, np.ndarray]:
        """Mean and variance of log y_{t+n} given log y_t (vectorised, broadcasting)::

            m_n = alpha^n log y + mu (1 - alpha^n)/(1 - alpha),   v_n = sigma^2 (1 - alpha^(2n))/(1 - alpha^2)
        """
        a_n = np.power(self.alpha, np.asarray(n, dtype=float))
        m = a_n * np.asarray(log_y, dtype=float) + self.mu * (1.0 - a_n) / (1.0 - self.alpha)
        v = self.sigma ** 2 * (1.0 - a_n ** 2) / (1.0 - self.alpha ** 2)
        return m, v

    def conditional_moment(self, y, k: float, n=1) -> np.ndarray:
        """E[y_{t+n}^k | y_t = y] = exp(k m_n + k^2 v_n / 2)."""
        m, v = self.log_mean_var(np.log(np.asarray(y, dtype=float)), n)
        return np.exp(k * m + 0.5 * k * k * v)

    def initial(self, rng: np.random.Generator) -> float:
        return math.exp(self.stationary_mean_log + self.stationary_sd_log * rng.standard_normal())

    def next(self, y: float, rng: np.random.Generator) -> float:
        return math.exp(self.mu + self.alpha * math.log(y) + self.sigma * rng.standard_normal())


@dataclass(frozen=True)
class GrowthMarkovChain(DividendProcess):
    """Mehra–Prescott (1985) dividend growth: y_{t+1} = lambda_{t+1} y_t.

    Growth ``lambda`` is ``1+mu+delta`` (regime 0) or ``1+mu-delta`` (regime 1); the regime
    stays with probability ``phi`` and switches with ``1-phi``. The dividend level alone does
    not reveal the regime, so this process remembers the regime of its last draw:
    :meth:`initial` draws it from the stationary law (1/2, 1/2) and returns ``y0``; each
    :meth:`next` call advances it. Use one instance per simulated path.
    """

    name: ClassVar[str] = "mehra-prescott"
    mu: float = 0.018
    delta: float = 0.036
    phi: float = 0.43
    y0: float = 1.0
    _regime: list = field(default_factory=lambda: [0], init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        _set(self, "mu", check_range("mu", self.mu, -1.0, None))   # growth 1 + mu > 0
        _set(self, "delta", check_range("delta", self.delta, 0.0, None, low_open=False))
        _set(self, "phi", check_range("phi", self.phi, 0.0, 1.0, low_open=False, high_open=False))
        _set(self, "y0", check_range("y0", self.y0, 0.0, None))
        if 1.0 + self.mu - self.delta <= 0:
            raise ConfigError("delta", f"< 1 + mu = {1.0 + self.mu:g} (growth must stay positive)",
                              self.delta)

    @classmethod
    def mehra_prescott(cls, mu: float = 0.018, delta: float = 0.036, phi: float = 0.43,
                       y0: float = 1.0) -> "GrowthMarkovChain":
        """Mehra and Prescott's (1985) calibration to U.S. consumption growth 1889–1978."""
        return cls(mu=mu, delta=delta, phi=phi, y0=y0)

    @property
    def growth(self) -> np.ndarray:
        """lambda per regime: (1+mu+delta, 1+mu-delta)."""
        return np.array([1.0 + self.mu + self.delta, 1.0 + self.mu - self.delta])

    @property
    def transition_matrix(self) -> np.ndarray:
        return np.array([[self.phi, 1.0 - self.phi], [1.0 - self.phi, self.phi]])

    @property
    def stationary_distribution(self) -> np.ndarray:
        return stationary_distribution(self.transition_matrix)

    @property
    def regime(self) -> int:
        """Regime of the last draw (0: high growth, 1: low growth)."""
        return self._regime[0]

    def initial(self, rng: np.random.Generator) -> float:
        self._regime[0] = int(rng.random() >= self.stationary_distribution[0])
        return self.y0

    def next(self, y: float, rng: np.random.Generator) -> float:
        if rng.random() >= self.phi:
            self._regime[0] = 1 - self._regime[0]
        return float(y) * (1.0 + self.mu + (self.delta if self._regime[0] == 0 else -self.delta))


_PROCESSES: dict[str, type] = {
    cls.name: cls for cls in (ConstantDividend, IIDLognormalDividend, MarkovChainDividend,
                              LogAR1Dividend, GrowthMarkovChain)
}
DIVIDEND_NAMES: tuple[str, ...] = tuple(_PROCESSES)


def make_dividend(name: str, **params) -> DividendProcess:
    """Build a dividend process by its name (one of :data:`DIVIDEND_NAMES`) and parameters.

    The parameters are the process class's fields. ``iid-lognormal`` and ``log-ar1`` also take
    ``ybar``, the mean dividend, as configs do (it sets ``mu``, and ``sigma``/``alpha`` get the
    configs' defaults; :func:`lucas_abm.dividend_params.process_arguments`)."""
    if name not in _PROCESSES:
        raise ConfigError("dividend", "one of " + ", ".join(DIVIDEND_NAMES), name)
    if "ybar" in params and name in ("iid-lognormal", "log-ar1"):
        from lucas_abm.dividend_params import dividend_from_params   # it calls back without ybar
        return dividend_from_params(name, params)
    cls = _PROCESSES[name]
    accepted = [f.name for f in fields(cls) if f.init]
    unknown = sorted(set(params) - set(accepted))
    if unknown:
        raise ConfigError("dividend", f"given only parameters among {', '.join(accepted)} for {name!r}",
                          unknown)
    required = [f.name for f in fields(cls)
                if f.init and f.default is MISSING and f.default_factory is MISSING]
    missing = [r for r in required if r not in params]
    if missing:
        raise ConfigError(missing[0], f"set for dividend {name!r} (required: {', '.join(required)})")
    return cls(**params)
