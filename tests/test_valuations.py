"""A type's own valuations at given holdings (lucas_abm/equilibrium/valuations.py).

- At the Negishi portfolio every type's own valuations are the equilibrium prices (its Euler
  equations, here from the portfolio's consumption, not from the sharing rule).
- Log utility holding only trees has the closed form v_tree = beta/(1-beta) y and
  v_bond = beta E[y/y'].
- Without bonds CRRA valuations do not depend on the number of trees held (homotheticity),
  so every sensitivity is 0; the equilibrium of configs/population_two_types_cpu.yaml has the
  sensitivities docs/heterogeneity.md tabulates.
"""
import numpy as np
import pytest

from lucas_abm.equilibrium.negishi import solve_negishi
from lucas_abm.equilibrium.valuations import own_valuations, valuation_sensitivity
from lucas_abm.errors import ConfigError

STATES, TRANSITION, BETA = [0.04, 0.05], [[0.8, 0.2], [0.3, 0.7]], 0.95


@pytest.mark.parametrize("gammas,endowments,y0", [([5.0, 1.0], [0.5, 0.5], 0), ([5.0, 1.0], [0.5, 0.5], 1),
                                                  ([2.0, 0.5, 8.0], [0.2, 0.5, 0.3], 0)])
def test_every_type_values_the_assets_at_the_equilibrium_prices(gammas, endowments, y0):
    eq = solve_negishi(STATES, TRANSITION, BETA, gammas, endowments, initial_state=y0)
    for k, g in enumerate(gammas):
        tree, bond = own_valuations(STATES, TRANSITION, BETA, g, eq.shares[k], eq.bonds[k], eq.bond_prices)
        np.testing.assert_allclose(tree, eq.tree_prices, rtol=1e-9)
        np.testing.assert_allclose(bond, eq.bond_prices, rtol=1e-9)


def test_log_utility_holding_trees_has_the_closed_form():
    y, p = np.array(STATES), np.array(TRANSITION)
    tree, bond = own_valuations(y, p, BETA, 1.0, 0.7, 0.0, [0.9, 1.1])
    np.testing.assert_allclose(tree, BETA / (1 - BETA) * y, rtol=1e-12)
    np.testing.assert_allclose(bond, BETA * p @ (1 / y) * y, rtol=1e-12)


def test_homothetic_valuations_without_bonds_do_not_move_with_shares():
    eq = solve_negishi(STATES, TRANSITION, BETA, [3.0, 3.0], [0.4, 0.6])   # equal gammas: no trade, no bonds
    out = valuation_sensitivity(eq, 0.05)
    assert np.max(np.abs(out["tree"])) < 1e-12 and np.max(np.abs(out["bond"])) < 1e-12


def test_sensitivities_of_the_two_type_economy():
    """The figures of docs/heterogeneity.md: per 0.01 of its own share, the cautious type's tree
    valuation moves about 0.5% (y = 0.04) and 0.9% (y = 0.05), the bold type's 0.1% and 0.2%;
    a central difference agrees with a smaller step (the derivative, not the step, is reported)."""
    eq = solve_negishi(STATES, TRANSITION, BETA, [5.0, 1.0], [0.5, 0.5])
    out = valuation_sensitivity(eq, 0.01)
    np.testing.assert_allclose(out["tree"], [[-0.0053, 0.0093], [0.0010, -0.0017]], atol=0.0002)
    fine = valuation_sensitivity(eq, 0.001)
    np.testing.assert_allclose(fine["tree"] * 10, out["tree"], rtol=0.01)
    np.testing.assert_allclose(out["tree_value"], np.vstack([eq.tree_prices] * 2), rtol=1e-9)


def test_bad_holdings_and_steps_are_refused():
    with pytest.raises(ConfigError, match="holdings"):
        own_valuations(STATES, TRANSITION, BETA, 2.0, 0.0, -0.1, [0.9, 1.0])
    eq = solve_negishi(STATES, TRANSITION, BETA, [5.0, 1.0], [0.5, 0.5])
    with pytest.raises(ConfigError, match="d_share"):
        valuation_sensitivity(eq, 0.0)
