"""Smoke-size training of the learned solvers: each must improve a number by a clear factor.

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


def test_rgan_mu_learned_reduces_its_losses():
    config = MarketConfig(gammas=(1.0, 2.0), xis=(3.0, -3.0), power=1.5, lam=0.01, horizon=0.2,
                          steps=20, cost_norm="power")
    model = train_rgan(config, RganConfig(mu_known=False, rounds=6, gen_steps=20, dis_steps=20,
                                          batch=256))
    log = model.log
    assert np.all(np.isfinite(log.discriminator_loss))
    assert log.discriminator_loss[-1] < 0.3 * log.discriminator_loss[0]


def test_combo_and_deep_bsde_reduce_their_losses():
    combo = train_combo(SMALL, ComboConfig(steps=150, batch=256))
    assert combo.log.generator_loss[-1] < 0.8 * combo.log.generator_loss[0]   # combined loss
    assert combo.log.clearing[-1] < 0.01 * combo.log.clearing[0]
    bsde = train_deep_bsde(SMALL, BsdeConfig(steps=150, batch=256))
    assert bsde.log.generator_loss[-1] < 0.3 * bsde.log.generator_loss[0]
