"""Price errors state by state (orchestrator/state_errors.py), against hand computations."""
import numpy as np

from orchestrator.state_errors import errors_by_state, state_index


def test_state_index_and_medians_by_state_by_hand():
    states = [0.04, 0.05]
    dividend = np.array([0.04, 0.05, 0.04, 0.04, 0.05])
    state = state_index(dividend, states)
    assert state.tolist() == [0, 1, 0, 0, 1]
    star = np.array([0.72, 1.0, 0.72, 0.72, 1.0])
    price = np.array([0.72 * 1.02, 0.90, 0.72 * 1.04, 0.72 * 0.99, 0.94])
    # state 0: errors +2%, +4%, -1% -> median +2%; state 1: -10%, -6% -> median -8%
    np.testing.assert_allclose(errors_by_state(price, star, state, 2), [0.02, -0.08], atol=1e-12)
    # counting only periods 0, 1, 3 (e.g. those with trade): state 0 -> median(+2%, -1%) = +0.5%
    counted = np.array([True, True, False, True, False])
    np.testing.assert_allclose(errors_by_state(price, star, state, 2, counted), [0.005, -0.10], atol=1e-12)
    # a state never counted (or never visited) gives None, not a number
    assert errors_by_state(price, star, state, 3, counted)[2] is None
    assert errors_by_state(price, star, state, 2, np.zeros(5, bool)) == [None, None]


def test_priced_periods_are_traded_or_a_schedules_market_at_rest():
    """A period has a price when the asset traded at a finite clearing price, or (demand
    schedules only) when every posted value is the clearing price to 1e-6 relative: here
    period 0 trades, period 1 is at rest, period 2 has one value 1e-5 off, period 3 a NaN
    value, period 4 traded without a finite price."""
    from orchestrator.state_errors import at_rest, priced_periods

    clearing = np.array([1.0, 1.03, 1.03, 1.03, np.nan])
    volume = np.array([2.0, 0.0, 0.0, 0.0, 1.0])
    posted = np.full((5, 3), 1.03)
    posted[0] = [0.9, 1.0, 1.1]
    posted[2, 1] *= 1 + 1e-5
    posted[3, 2] = np.nan
    posted[1, 0] *= 1 + 5e-7
    assert at_rest(clearing, posted).tolist() == [False, True, False, False, False]
    assert priced_periods(volume, clearing).tolist() == [True, False, False, False, False]
    assert priced_periods(volume, clearing, posted, schedules=True).tolist() == [True, True, False, False, False]
    assert priced_periods(volume, clearing, posted, schedules=False).tolist() == [True, False, False, False, False]
