"""One entry point per method: ``solve(config, method, paths, seed) -> (MarketPaths, seconds)``.

Reference methods (exact, leading order, frictionless) are closed form / ODE based; learned
methods (rgan, rgan-mu-known, combo, deep-bsde) train in TensorFlow on their own training paths
and are then evaluated on ``paths``. TensorFlow is imported only when a learned method runs.
"""
from __future__ import annotations

import time

from lucas_abm.errors import ConfigError
from lucas_abm.frictions.config import METHODS, MarketConfig
from lucas_abm.frictions.leading_order import MIN_POWER as LEADING_ORDER_MIN_POWER
from lucas_abm.frictions.paths import BrownianPaths, MarketPaths


def check_method(config: MarketConfig, method: str) -> None:
    """Raise ConfigError if ``method`` does not apply to ``config`` (before any work)."""
    if method not in METHODS:
        raise ConfigError("method", "one of " + ", ".join(METHODS), method)
    if method == "exact" and config.power != 2.0:
        raise ConfigError("method", "exact only with --power 2 (use leading-order for q < 2)",
                          method)
    if method == "leading-order" and config.n_agents != 2:
        raise ConfigError("method", "leading-order only with 2 agents", method)
    if method == "leading-order" and config.power < LEADING_ORDER_MIN_POWER:
        raise ConfigError("power", f"in [{LEADING_ORDER_MIN_POWER:g}, 2] for the leading-order "
                          "method (its g-equation has the exponent 1/(q-1))", config.power)
    if method == "rgan-mu-known" and config.power != 2.0 and config.n_agents != 2:
        raise ConfigError("method", "a mu-known method only with q = 2 or 2 agents "
                          "(the drift formula needs sum_n G'(phidot^n) = 0)", method)


def reference_method(config: MarketConfig) -> str:
    """The best available benchmark: exact (q=2), leading order (N=2), else frictionless."""
    if config.power == 2.0:
        return "exact"
    if config.n_agents == 2 and config.power >= LEADING_ORDER_MIN_POWER:
        return "leading-order"
    return "frictionless"


def solve(config: MarketConfig, method: str, paths: BrownianPaths, seed: int = 0,
          budget: str = "full") -> tuple[MarketPaths, float]:
    """Run ``method`` and simulate it on ``paths``; returns the market and wall-clock seconds
    (training included for learned methods). ``budget`` is ``"full"`` or ``"smoke"``."""
    check_method(config, method)
    start = time.perf_counter()
    if method == "exact":
        from lucas_abm.frictions.exact import simulate_exact
        market = simulate_exact(config, paths)
    elif method == "frictionless":
        from lucas_abm.frictions.frictionless import simulate_frictionless
        market = simulate_frictionless(config, paths)
    elif method == "leading-order":
        from lucas_abm.frictions.leading_order import simulate_leading_order
        market = simulate_leading_order(config, paths)
    elif method in ("rgan", "rgan-mu-known"):
        from lucas_abm.frictions.rgan import RganConfig, train_rgan
        cfg = RganConfig.for_budget(budget, mu_known=(method == "rgan-mu-known"), seed=seed)
        market = train_rgan(config, cfg).simulate(paths)
    elif method == "combo":
        from lucas_abm.frictions.baselines import ComboConfig, train_combo
        market = train_combo(config, ComboConfig.for_budget(budget, seed=seed)).simulate(paths)
    else:
        from lucas_abm.frictions.baselines import BsdeConfig, train_deep_bsde
        market = train_deep_bsde(config, BsdeConfig.for_budget(budget, seed=seed)).simulate(paths)
    return market, time.perf_counter() - start
