"""Hypothesis strategies shared by the market property tests: posted prices and scenarios.

Posted prices mix ordinary values with garbage (NaN, +-inf, 0, negative, huge, above the
default cap of 10), so that every test that uses them covers the invalid-price paths.
"""
from __future__ import annotations

import numpy as np
from hypothesis import strategies as st

GARBAGE = [np.nan, np.inf, -np.inf, 0.0, -1.0, 1e300, 11.0]
price = st.one_of(st.floats(0.01, 2.0), st.sampled_from(GARBAGE))


@st.composite
def scenarios(draw, max_agents: int = 30):
    """(N, posted prices [steps, 2, N]): 2 <= N <= max_agents agents, 1 to 4 periods."""
    n = draw(st.integers(2, max_agents))
    steps = draw(st.integers(1, 4))
    prices = draw(st.lists(st.lists(price, min_size=2 * n, max_size=2 * n),
                           min_size=steps, max_size=steps))
    return n, np.array(prices, dtype=np.float64).reshape(steps, 2, n)
