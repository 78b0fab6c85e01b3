"""A type's own valuations at given holdings (lucas_abm/equilibrium/valuations.py).

- At the Negishi portfolio every type's own valuations are the equilibrium prices (its Euler
  equations, here from the portfolio's consumption, not from the sharing rule).
- Log utility holding only trees has the closed form v_tree = beta/(1-beta) y and
  v_bond = beta E[y/y'].
- Without bonds CRRA valuations do not depend on the number of trees held (homotheticity),
  so every sensitivity is 0; the equilibrium of configs/population_two_types_cpu.yaml has the
  sensitivities docs/acceptance_b.md tabulates.
- The tree price's elasticity to errors in the one-period discount factor matches finite
  differences, is 1/(1 - beta) for a constant dividend, and in the acceptance-B economy has
  the values docs/acceptance_b.md tabulates ("Why the tree is harder than the bond").
"""
import numpy as np
import pytest

from lucas_abm.equilibrium.negishi import solve_negishi
from lucas_abm.equilibrium.valuations import own_valuations, tree_price_sdf_elasticity, valuation_sensitivity
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
    """The figures of docs/acceptance_b.md: per 0.01 of its own share, the cautious type's tree
    valuation moves about 0.5% (y = 0.04) and 0.9% (y = 0.05), the bold type's 0.1% and 0.2%;
    a central difference agrees with a smaller step (the derivative, not the step, is reported)."""
    eq = solve_negishi(STATES, TRANSITION, BETA, [5.0, 1.0], [0.5, 0.5])
    out = valuation_sensitivity(eq, 0.01)
    np.testing.assert_allclose(out["tree"], [[-0.0053, 0.0093], [0.0010, -0.0017]], atol=0.0002)
    fine = valuation_sensitivity(eq, 0.001)
    np.testing.assert_allclose(fine["tree"] * 10, out["tree"], rtol=0.01)
    np.testing.assert_allclose(out["tree_value"], np.vstack([eq.tree_prices] * 2), rtol=1e-9)


def test_the_sensitivity_table_of_the_docs_is_what_the_function_gives():
    """docs/acceptance_b.md's table, every cell as printed: percentages and ticks (0.005 for
    the tree, 0.0025 for the bond) of the valuations. Two tick cells had been rounded from
    the percentages (+0.2 and -0.4 for +0.147 and -0.350)."""
    import re
    from pathlib import Path

    eq = solve_negishi(STATES, TRANSITION, BETA, [5.0, 1.0], [0.5, 0.5])
    out = valuation_sensitivity(eq, 0.01)
    doc = (Path(__file__).resolve().parents[1] / "docs" / "acceptance_b.md").read_text()
    rows = re.findall(r"^\| (cautious|bold)[^|]* \| (0\.0[45]) \| ([-+0-9.]+)% \| ([-+0-9.]+) \| "
                      r"([-+0-9.]+)% \| ([-+0-9.]+) \|$", doc, re.M)
    assert len(rows) == 4
    for name, y, tree, tree_ticks, bond, bond_ticks in rows:
        k, s = ["cautious", "bold"].index(name), [0.04, 0.05].index(float(y))
        assert f"{100 * out['tree'][k, s]:+.2f}" == tree
        assert f"{100 * out['bond'][k, s]:+.2f}" == bond
        assert f"{out['tree'][k, s] * out['tree_value'][k, s] / 0.005:+.1f}" == tree_ticks
        assert f"{out['bond'][k, s] * out['bond_value'][k, s] / 0.0025:+.1f}" == bond_ticks


def test_bad_holdings_and_steps_are_refused():
    with pytest.raises(ConfigError, match="holdings"):
        own_valuations(STATES, TRANSITION, BETA, 2.0, 0.0, -0.1, [0.9, 1.0])
    eq = solve_negishi(STATES, TRANSITION, BETA, [5.0, 1.0], [0.5, 0.5])
    with pytest.raises(ConfigError, match="d_share"):
        valuation_sensitivity(eq, 0.0)


def tree_price(states, transition, sdf, errors=(0.0, 0.0)):
    m = np.asarray(transition) * np.asarray(sdf) * (1.0 + np.asarray(errors))[:, None]
    return np.linalg.solve(np.eye(len(states)) - m, m @ np.asarray(states))


def test_tree_price_sdf_elasticity_against_finite_differences_and_the_perpetuity():
    eq = solve_negishi(STATES, TRANSITION, BETA, [5.0, 1.0], [0.5, 0.5])
    e = tree_price_sdf_elasticity(eq.states, eq.transition, eq.sdf)
    h = 1e-6
    for k in range(2):
        up, down = np.zeros(2), np.zeros(2)
        up[k], down[k] = h, -h
        numeric = (np.log(tree_price(STATES, TRANSITION, eq.sdf, up))
                   - np.log(tree_price(STATES, TRANSITION, eq.sdf, down))) / (2 * h)
        np.testing.assert_allclose(e[:, k], numeric, rtol=1e-6)
    # acceptance B (docs/acceptance_b.md): a 1% error in the discount factor out of the high
    # state (the bond price there 1% off) moves the tree price 9% in the high state and 7% in
    # the low; the same error out of every state moves it ~20%, the tree's duration
    np.testing.assert_allclose(e, [[12.76, 7.19], [10.93, 9.14]], atol=0.01)
    np.testing.assert_allclose(e.sum(axis=1), 1 / (1 - BETA), rtol=0.005)   # duration ~ 20 periods
    # a constant dividend: the perpetuity, p = beta/(1 - beta) y, elasticity 1/(1 - beta)
    np.testing.assert_allclose(tree_price_sdf_elasticity([0.05], [[1.0]], [[BETA]]), [[1 / (1 - BETA)]], rtol=1e-12)
    with pytest.raises(ConfigError, match="sdf"):
        tree_price_sdf_elasticity([0.05], [[1.0]], [[1.01]])


@pytest.mark.parametrize("gammas,endowments", [([5.0, 1.0], [0.5, 0.5]), ([5.0, 1.0], [0.45, 0.55]),
                                               ([2.0, 0.5, 8.0], [0.2, 0.5, 0.3])])
def test_risk_sharing_gap_is_zero_on_every_efficient_allocation(gammas, endowments):
    """Any Negishi portfolio (any wealth split) shares risk efficiently: gap 0 (to 1e-12).
    Acceptance B's endowment (no bonds, consumption proportional to y for both types) has
    m = 0.8^gamma: gap 0.8 / 0.8^5 - 1 = 1.44140625; holding the bond moves it."""
    from lucas_abm.equilibrium.valuations import risk_sharing_gap

    eq = solve_negishi(STATES, TRANSITION, BETA, gammas, endowments)
    assert abs(risk_sharing_gap(STATES, gammas, eq.shares, eq.bonds, eq.bond_prices)) < 1e-12
    q = [0.8917893079665716, 1.0758831045211585]
    assert risk_sharing_gap(STATES, [5.0, 1.0], [0.5, 0.5], [0.0, 0.0], q) == pytest.approx(0.8 / 0.8**5 - 1, rel=1e-12)
    assert 0 < risk_sharing_gap(STATES, [5.0, 1.0], [0.48, 0.52], [0.01, -0.01], q) < 0.8 / 0.8**5 - 1
    assert np.isnan(risk_sharing_gap(STATES, [5.0, 1.0], [0.0, 1.0], [-0.1, 0.1], q))
