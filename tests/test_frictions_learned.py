"""Smoke-size training of the learned solvers, held to numbers of the exact solution
(quadratic costs, lucas_abm/frictions/exact.py) with smoke-size tolerances.

A small market (3 agents, 20 steps) keeps this under a minute; the full acceptance run is
``lucas-abm frictions --preset kratsios-10-quadratic --method rgan-mu-known --json``.
"""
import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")

from lucas_abm.frictions.baselines import BsdeConfig, ComboConfig, train_combo, train_deep_bsde  # noqa: E402
from lucas_abm.frictions.config import MarketConfig  # noqa: E402
from lucas_abm.frictions.exact import simulate_exact  # noqa: E402
from lucas_abm.frictions.metrics import summary  # noqa: E402
from lucas_abm.frictions.paths import brownian_paths  # noqa: E402
from lucas_abm.frictions.rgan import RganConfig, train_rgan  # noqa: E402

SMALL = MarketConfig(gammas=(1.0, 1.5, 2.0), xis=(6.0, -2.0, -4.0), lam=0.01, horizon=0.2,
                     steps=20)


@pytest.fixture(scope="module")
def paths():
    return brownian_paths(SMALL, 1000, seed=10_000)


def test_rgan_mu_known_moves_the_market_toward_the_exact_solution(paths):
    exact = summary(SMALL, simulate_exact(SMALL, paths), 0.0)
    untrained = train_rgan(SMALL, RganConfig(mu_known=True, rounds=0))
    before = summary(SMALL, untrained.simulate(paths), 0.0)
    model = train_rgan(SMALL, RganConfig(mu_known=True, rounds=16, gen_steps=25, dis_steps=25,
                                         batch=256))
    after = summary(SMALL, model.simulate(paths), 0.0)

    def gap(key, s):
        return abs(s[key] - exact[key])

    assert gap("utility", after) < 0.2 * gap("utility", before)
    assert gap("sigma0", after) < 0.5 * gap("sigma0", before)
    assert gap("S0", after) < 0.5 * gap("S0", before)
    assert after["clearing_error"] < 0.05 * before["clearing_error"]


@pytest.fixture(scope="module")
def exact(paths):
    """The exact equilibrium (quadratic costs) on the evaluation paths: S0 0.2873, sigma0 1.142."""
    return summary(SMALL, simulate_exact(SMALL, paths), 0.0)


def test_rgan_mu_learned_lands_near_the_exact_solution(paths, exact):
    # Untrained (two draws): clearing error 3e-3 / 0.17, S0 7% high. Smoke-size training
    # (two runs: clearing 5e-5 / 2e-4, S0 -2.6% / -1.5%, sigma0 +12.8% / +12.6%) clears and
    # prices within a few percent; sigma0 needs the full schedule (docs/frictions.md: +0.45%).
    model = train_rgan(SMALL, RganConfig(mu_known=False, rounds=6, gen_steps=20, dis_steps=20,
                                         batch=256))
    assert np.all(np.isfinite(model.log.discriminator_loss))
    after = summary(SMALL, model.simulate(paths), 0.0)
    assert exact["S0"] == pytest.approx(0.28735, rel=1e-4)
    assert exact["sigma0"] == pytest.approx(1.14247, rel=1e-4)
    assert after["clearing_error"] < 1e-3
    assert after["terminal_error"] < 1e-4
    assert abs(after["S0"] / exact["S0"] - 1) < 0.06
    assert abs(after["sigma0"] / exact["sigma0"] - 1) < 0.25


def test_combo_and_deep_bsde_against_the_exact_solution(paths, exact):
    # What docs/frictions.md reports for the two baselines, at smoke size (two runs each):
    # combo (one loss, no price taking) clears but misprices the tree (S0 32% low);
    # the deep BSDE gets sigma0 and S0 within ~15% but its agents do not clear (0.05).
    combo = summary(SMALL, train_combo(SMALL, ComboConfig(steps=150, batch=256)).simulate(paths),
                    0.0)
    assert combo["clearing_error"] < 1e-3 and combo["terminal_error"] < 5e-3
    assert combo["S0"] < 0.9 * exact["S0"]
    bsde = summary(SMALL, train_deep_bsde(SMALL, BsdeConfig(steps=150, batch=256)).simulate(paths),
                   0.0)
    assert abs(bsde["sigma0"] / exact["sigma0"] - 1) < 0.25
    assert abs(bsde["S0"] / exact["S0"] - 1) < 0.3
    assert bsde["clearing_error"] > 1e-3
