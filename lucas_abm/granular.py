"""Granular volatility (docs/heterogeneity.md, "Granular volatility"; Gabaix 2011).

N traders of sizes S_i (weights ``w_i = S_i / sum_j S_j``) get independent idiosyncratic
shocks ``eps_it ~ N(0, sigma^2)``. The size-weighted aggregate shock

    E_t = sum_i w_i eps_it,      sd(E_t) = sigma h,      h = sqrt(sum_i w_i^2)

does not wash out when sizes are fat-tailed: equal sizes h = N^(-1/2); Pareto tail zeta in
(1, 2) h ~ N^(-(1 - 1/zeta)); Zipf (zeta = 1) h ~ 1/ln N (both in distribution: h times the
rate converges to a random variable, so a Pareto sample's h is random).

**Scripted traders.** Trader i holds ``theta_i = S_i`` tree shares (holdings in proportion to
size; supply ``Q = sum_i S_i``) and submits the demand schedule, in log price ``x = log(p/p*)``,

    d_i(x) = S_i (1 + c eps_it - b x)

(``b`` > 0 the price elasticity of demand per unit of size, ``c`` the loading of demand on the
trader's own shock; with no shocks it holds its endowment at the identical-agent price p*).
The uniform-price call auction sums the schedules, ``D(x) = A_t - B x`` with
``A_t = sum_i S_i (1 + c eps_it)`` and ``B = b sum_i S_i``, and clears ``D(x_t) = Q``:

    x_t = (A_t - Q) / B = (c / b) E_t,      sd(log p_t) = (c / b) sigma h.

:func:`run_granular` sweeps N and the size law, draws several size vectors per law (h is
random for Pareto laws; rows give the median over draws), simulates ``periods`` periods of
shocks (one matrix product over agents per block of periods, no loop over agents), clears
the market each period and compares the realised volatilities with these formulas.
"""
from __future__ import annotations

import math
import time
from fractions import Fraction
from dataclasses import dataclass, field
from typing import Any, Mapping

import numpy as np

from lucas_abm.errors import ConfigError, check_range
from lucas_abm.sizes import SizeLaw, draw_sizes, herfindahl_root, parse_size_law

#: The sweep's size laws: label -> config value for :func:`~lucas_abm.sizes.parse_size_law`.
DEFAULT_SIZE_LAWS: Mapping[str, Any] = {
    "equal": 1.0,
    "pareto-1.5": {"pareto": {"zeta": 1.5}},
    "zipf": {"zipf": {}},
}
DEFAULT_N_AGENTS = (10, 100, 1_000, 10_000, 100_000, 1_000_000)


#: Range of sigma, b and |c|: the log price (c/b) E_t then stays between 1e-300 and 1e300, a
#: normal float64 (c or b = 1e308 gave nan or 0 volatilities).
SCALE_RANGE = (1e-100, 1e100)


@dataclass(frozen=True)
class DemandRule:
    """Tree demand per trader, ``d_i(x) = S_i (1 + c eps_i - b x)``, ``x = log(p / p*)``."""

    elasticity: float = 2.0  # b
    loading: float = 1.0     # c

    def __post_init__(self) -> None:
        check_range("elasticity", self.elasticity, *SCALE_RANGE, low_open=False, high_open=False)
        c = check_range("loading", self.loading)
        if not SCALE_RANGE[0] <= abs(c) <= SCALE_RANGE[1]:   # c = 0: prices would not move
            raise ConfigError("loading", "a number with |c| in [1e-100, 1e100] (c = 0: demand "
                              "ignores the shocks and the price does not move)", self.loading)

    def demand(self, sizes: np.ndarray, eps: np.ndarray, log_price_gap: float) -> np.ndarray:
        """Each trader's demand at ``x = log(p/p*)`` (vectorised over agents)."""
        return sizes * (1.0 + self.loading * eps - self.elasticity * log_price_gap)

    def price_vol_theory(self, sigma: float, h: np.ndarray | float) -> np.ndarray | float:
        """sd(log p_t) = (|c| / b) sigma h (a negative c moves the price the other way)."""
        return abs(self.loading) / self.elasticity * sigma * h


def clearing_log_price(rule: DemandRule, weighted_shock: np.ndarray, total_size: np.ndarray,
                       supply: np.ndarray) -> np.ndarray:
    """Uniform clearing of the summed schedules: x with ``A - B x = Q``.

    ``weighted_shock`` is ``sum_i S_i eps_i`` (per period and size vector), so
    ``A = total_size + c weighted_shock`` and ``B = b total_size``, computed as
    ``(total_size - Q)/B + (c/b) E_t``: with ``Q = total_size`` forming ``A`` first lost shocks
    below round-off of the sizes (sigma 1e-200 gave a price that never moved), and ``c w`` or
    ``b total`` alone overflowed at c or b = 1e308.
    """
    gap = (total_size - supply) / (rule.elasticity * total_size)
    return gap + (rule.loading / rule.elasticity) * (weighted_shock / total_size)


def excess_demand(rule: DemandRule, sizes: np.ndarray, eps: np.ndarray, log_price_gap: float,
                  supply: float) -> float:
    """``sum_i d_i(x) - Q`` from the individual demands (the clearing check)."""
    return float(rule.demand(sizes, eps, log_price_gap).sum() - supply)


def asymptotic_law(law: SizeLaw) -> tuple[str, Any]:
    """(label, rate function of N) of h's asymptotic decay for a size law (Gabaix 2011)."""
    zeta = law.tail_exponent
    if zeta is None or zeta >= 2.0:
        return "N^(-1/2)", lambda n: np.asarray(n, float) ** -0.5
    if zeta > 1.0:
        exponent = 1.0 - 1.0 / zeta
        ratio = Fraction(exponent).limit_denominator(12)
        shown = f"{ratio.numerator}/{ratio.denominator}" if abs(float(ratio) - exponent) < 1e-12 \
            else f"{exponent:.3g}"
        return f"N^(-{shown})", lambda n: np.asarray(n, float) ** -exponent
    if zeta == 1.0:
        return "1/ln N", lambda n: 1.0 / np.log(np.asarray(n, float))
    return "const", lambda n: np.ones_like(np.asarray(n, float))


def log_log_slope(n: np.ndarray, values: np.ndarray) -> float:
    """Least-squares slope of log(values) on log(n)."""
    return float(np.polyfit(np.log(np.asarray(n, float)), np.log(np.asarray(values, float)), 1)[0])


@dataclass(frozen=True)
class GranularConfig:
    """The sweep: agent counts, size laws (label -> config value), shocks and the demand rule."""

    n_agents: tuple[int, ...] = DEFAULT_N_AGENTS
    size_laws: Mapping[str, Any] = field(default_factory=lambda: dict(DEFAULT_SIZE_LAWS))
    sigma: float = 0.1
    periods: int = 250
    size_draws: int = 32
    demand: DemandRule = field(default_factory=DemandRule)
    fit_min_n: int = 100
    seed: int = 0
    chunk_cells: int = 8_000_000   # shocks eps_it drawn per block of periods (8 bytes each)
    size_cells: int = 40_000_000   # sizes S_ik held per batch of size vectors (8 bytes each)

    def __post_init__(self) -> None:
        if len(self.n_agents) == 0:
            raise ConfigError("sizes", "a non-empty list of agent counts", list(self.n_agents))
        for n in self.n_agents:
            if isinstance(n, bool) or int(n) != n or not 2 <= n <= 10_000_000:   # Zipf's 1/ln N
                raise ConfigError("sizes", "agent counts, integers in [2, 10000000]", n)
        check_range("sigma", self.sigma, *SCALE_RANGE, low_open=False, high_open=False)
        if len(set(self.n_agents)) != len(self.n_agents):   # a repeated N weighs twice in the fit
            raise ConfigError("sizes", "distinct agent counts", list(self.n_agents))
        for name, low in (("periods", 2), ("size_draws", 1), ("fit_min_n", 2)):
            value = getattr(self, name)
            if isinstance(value, bool) or int(value) != value or value < low:
                raise ConfigError(name, f"an integer >= {low}", value)
        for label, value in self.size_laws.items():
            if parse_size_law(value, f"size_laws.{label}").kind == "list":
                raise ConfigError(f"size_laws.{label}", "a constant or a distribution (a list fixes N)",
                                  value)

    def laws(self) -> dict[str, SizeLaw]:
        return {label: parse_size_law(value, f"size_laws.{label}") for label, value in self.size_laws.items()}

    @property
    def sampling_error(self) -> float:
        """Relative standard error of a sample sd over T Gaussian periods: 1/sqrt(2(T - 1))."""
        return 1.0 / math.sqrt(2.0 * (self.periods - 1))


def _size_columns(config: GranularConfig, n: int) -> list[tuple[str, SizeLaw, int]]:
    """(label, law, draw) for every size vector at this N (one draw for a constant law)."""
    return [(label, law, d) for label, law in config.laws().items()
            for d in range(1 if law.kind == "constant" else config.size_draws)]


def _simulate_columns(config: GranularConfig, n: int, sizes: np.ndarray) -> dict[str, np.ndarray]:
    """Per size vector (column of ``sizes``): h, sd(E)/(sigma h), sd(log p), its theory and the
    clearing residual, over ``periods`` periods of shocks.

    The shocks come from the same seeded stream for every batch of columns (common random
    numbers): every size vector at this N faces the same eps_it.
    """
    total = sizes.sum(axis=0)
    supply = total.copy()                                      # theta_i = S_i
    with np.errstate(over="ignore"):
        h = np.sqrt(np.einsum("ik,ik->k", sizes, sizes)) / total
    if not np.all(np.isfinite(h)):                             # S_i^2 overflows: h of S / total
        share = sizes / total
        h = np.sqrt(np.einsum("ik,ik->k", share, share))
    rng = np.random.default_rng([config.seed, n, 1_000_003])
    weighted = np.empty((config.periods, sizes.shape[1]))
    residual = np.zeros(sizes.shape[1])
    step = max(1, config.chunk_cells // n)
    for start in range(0, config.periods, step):
        eps = config.sigma * rng.standard_normal((min(step, config.periods - start), n))
        weighted[start:start + eps.shape[0]] = eps @ sizes     # sum_i S_i eps_it
        if start == 0:  # the clearing check: individual demands at the clearing price
            x0 = clearing_log_price(config.demand, weighted[0], total, supply)
            residual = np.array([abs(excess_demand(config.demand, sizes[:, k], eps[0], x0[k], supply[k]))
                                 / supply[k] for k in range(sizes.shape[1])])
    shock = weighted / total                                   # E_t
    log_price = clearing_log_price(config.demand, weighted, total, supply)
    return {"h": h, "aggregate_ratio": _sd(shock) / (config.sigma * h), "price_vol": _sd(log_price),
            "theory": config.demand.price_vol_theory(config.sigma, h), "residual": residual}


def _sd(x: np.ndarray) -> np.ndarray:
    """Sample s.d. (ddof 1) of each column; columns whose squares would overflow or underflow
    (sigma 1e160, elasticity 1e-200 or 1e305) are scaled by their largest |x| first."""
    scale = np.max(np.abs(x), axis=0)
    extreme = (scale > 1e100) | ((scale < 1e-100) & (scale > 0))
    if not extreme.any():
        return x.std(axis=0, ddof=1)
    scale = np.where(extreme, scale, 1.0)
    return (x / scale).std(axis=0, ddof=1) * scale


def simulate_n(config: GranularConfig, n: int) -> list[dict]:
    """Rows for one agent count: every size law, several size draws, ``periods`` clearings.

    Size vectors are drawn from ``default_rng([seed, N, law index, draw])`` and simulated in
    batches of at most ``size_cells`` sizes in memory.
    """
    columns = _size_columns(config, n)
    index = {label: j for j, label in enumerate(config.laws())}
    batch = max(1, config.size_cells // n)
    parts = []
    for b0 in range(0, len(columns), batch):
        sizes = np.stack([draw_sizes(law, n, np.random.default_rng([config.seed, n, index[label], d]))
                          for label, law, d in columns[b0:b0 + batch]], axis=1)   # (N, k)
        parts.append(_simulate_columns(config, n, sizes))
    stats = {key: np.concatenate([part[key] for part in parts]) for key in parts[0]}
    labels = np.array([label for label, _, _ in columns])
    rows = []
    for label in config.laws():
        mine = labels == label
        vol, theory = stats["price_vol"][mine], stats["theory"][mine]
        rows.append({
            "size_law": label, "n_agents": int(n), "size_draws": int(mine.sum()),
            "h": float(np.median(stats["h"][mine])), "h_mean": float(stats["h"][mine].mean()),
            "aggregate_vol_over_sigma_h": float(stats["aggregate_ratio"][mine].mean()),
            "price_vol": float(np.median(vol)), "price_vol_theory": float(np.median(theory)),
            "price_vol_over_theory": float((vol / theory).mean()),
            "price_vol_log_sd": float(np.log(vol).std(ddof=1)) if vol.size > 1 else 0.0,
            "sampling_error": config.sampling_error,
            "clearing_residual": float(stats["residual"][mine].max()),
        })
    return rows


def fitted_agent_counts(config: GranularConfig) -> list[int]:
    """The agent counts the slopes are fitted on: N >= fit_min_n when two or more such N,
    else all N (the result's ``fit_n_agents``, printed with the slopes)."""
    counts = sorted({int(n) for n in config.n_agents})
    above = [n for n in counts if n >= config.fit_min_n]
    return above if len(above) >= 2 else counts


def fit_slopes(config: GranularConfig, rows: list[dict]) -> tuple[dict, dict]:
    """Per size law: fitted slope of log price_vol on log N over :func:`fitted_agent_counts`,
    and the asymptotic law's slope over the same N."""
    used = fitted_agent_counts(config)
    slopes, theory = {}, {}
    if len(used) < 2:
        return slopes, theory
    for label, law in config.laws().items():
        fit = [r for r in rows if r["size_law"] == label and r["n_agents"] in used]
        n = np.array([r["n_agents"] for r in fit])
        slopes[label] = log_log_slope(n, [r["price_vol"] for r in fit])
        theory[label] = log_log_slope(n, asymptotic_law(law)[1](n))
    return slopes, theory


def run_granular(config: GranularConfig) -> dict:
    """The whole sweep: ``{"rows": [...], "slopes": {...}, "slopes_theory": {...}, ...}``."""
    started = time.perf_counter()
    rows = [row for n in sorted(set(int(n) for n in config.n_agents)) for row in simulate_n(config, n)]
    slopes, slopes_theory = fit_slopes(config, rows)
    return {
        "rows": rows, "slopes": slopes, "slopes_theory": slopes_theory,
        "asymptotic_laws": {label: asymptotic_law(law)[0] for label, law in config.laws().items()},
        "sigma": config.sigma, "periods": config.periods, "size_draws": config.size_draws,
        "elasticity": config.demand.elasticity, "loading": config.demand.loading,
        "fit_min_n": config.fit_min_n, "fit_n_agents": fitted_agent_counts(config),
        "seed": config.seed,
        "seconds": time.perf_counter() - started,
    }


def price_response(log_price_gap: np.ndarray, weighted_shock: np.ndarray, sizes: np.ndarray,
                   sigma: float, rule: DemandRule = DemandRule()) -> dict:
    """How a market's clearing log price ``x_t`` follows the granular shock
    ``E_t = sum_i w_i eps_it`` (``benchmarks/granular_learning.py``: learning traders).

    The scripted traders' market has ``x_t = (c/b) E_t`` exactly. For any market, the
    least-squares fit ``x_t = a + k E_t + e_t`` gives the ``loading`` k (the market's "c/b",
    with its standard error), ``r2`` (the share of the price variance the granular shock
    explains), ``granular_vol = |k| sd(E)`` and ``residual_vol = sd(e)``; ``h`` is that of
    ``sizes`` and ``scripted_vol = (c/b) sigma h`` the scripted rule's volatility.
    """
    x = np.asarray(log_price_gap, dtype=float)
    e = np.asarray(weighted_shock, dtype=float)
    if x.shape != e.shape or x.ndim != 1 or x.size < 3:
        raise ValueError("log_price_gap and weighted_shock: equal 1-D arrays of >= 3 periods")
    h = float(herfindahl_root(np.asarray(sizes, dtype=float)))
    design = np.column_stack([np.ones_like(e), e])
    coef, *_ = np.linalg.lstsq(design, x, rcond=None)
    resid = x - design @ coef
    s2 = float(resid @ resid) / (x.size - 2)
    spread = float(np.sum((e - e.mean()) ** 2))
    total = float(np.sum((x - x.mean()) ** 2))
    price_vol = float(np.std(x, ddof=1))
    return {"h": h, "periods": int(x.size), "price_vol": price_vol,
            "price_vol_over_sigma_h": price_vol / (sigma * h),
            "aggregate_vol_over_sigma_h": float(np.std(e, ddof=1)) / (sigma * h),
            "loading": float(coef[1]),
            "loading_se": math.sqrt(s2 / spread) if spread > 0 else math.nan,
            "r2": 1.0 - float(resid @ resid) / total if total > 0 else math.nan,
            "granular_vol": abs(float(coef[1])) * float(np.std(e, ddof=1)),
            "residual_vol": math.sqrt(s2),
            "scripted_vol": float(rule.price_vol_theory(sigma, h)),
            "mean_log_price_gap": float(x.mean())}
