"""The dealer economy's arithmetic, written once for any array module (NumPy or jax.numpy).

benchmarks/_fixed_price_market.py runs it with NumPy beside the TensorFlow DQN;
benchmarks/dqn_at_scale.py runs it with jax.numpy on an accelerator, where neither
TensorFlow nor this repository's packages are installed. So this module imports nothing but
its array module, passed in as ``xp``; tests/test_dqn_fixed_prices.py holds the NumPy route to
the market's own step and to the learners' Features.

Per agent, in the period's dividend state y with the dealer's prices P = p(y), Q = q(y)
(every quantity relative to the endowment s0 = 1):

    z      = max(a_t (1 - P/v_t), -s)                     trees bought (sold < 0)
    b^s    = min(max(b + a_b (1 - Q/v_b), -L), room / Q)   the bond schedule's position
    b'     = b^s - min(phi P z, (b^s + L) Q) / Q  (z > 0)  trees paid for with bonds
           = b^s + phi P |z| / Q                  (z < 0)  sales paid in bonds
    c      = s y + b - P z - Q b'

with room = (1 - floor) (s y + b), the most cash the schedules may spend, and purchases that
it cannot pay for capped (the unfinanced part must fit in what lending leaves).
"""
from __future__ import annotations


def dealer_step(xp, y, p, q, shares, bonds, tree_value, bond_value, tree_slope: float, bond_slope: float,
                borrowing_limit: float, phi: float, floor_fraction: float = 0.01):
    """One period at the dealer's prices (module docstring): (consumption, new shares, new
    bonds). ``y``, ``p``, ``q`` are the period's dividend and prices, per agent or scalars;
    ``phi`` the part of each tree trade paid in bonds (0: all of it out of consumption)."""
    income = shares * y + bonds
    room = (1.0 - floor_fraction) * income
    z = xp.maximum(tree_slope * (1.0 - p / tree_value), -shares)
    b_sched = xp.maximum(bonds + bond_slope * (1.0 - q / bond_value), -borrowing_limit)
    b_sched = xp.minimum(b_sched, room / q)                 # lending capped by income
    capacity = xp.maximum(b_sched + borrowing_limit, 0.0) * q
    cash_left = xp.maximum(room - q * b_sched, 0.0)         # for the part of a purchase not financed
    # the unfinanced part max((1 - phi) P z, P z - capacity) must fit in cash_left
    z_max = (capacity + cash_left) / p
    if phi < 1.0:
        z_max = xp.minimum(z_max, cash_left / ((1.0 - phi) * p))
    z = xp.where(z > z_max, z_max, z)
    financed = xp.minimum(phi * p * xp.maximum(z, 0.0), capacity)
    new_bonds = b_sched - financed / q + phi * xp.maximum(-z, 0.0) * p / q
    consumption = income - p * z - q * new_bonds
    return consumption, shares + z, new_bonds


def crra(xp, c, gamma: float):
    """u(c) = c^(1 - gamma) / (1 - gamma), log c at gamma = 1 (lucas_abm.utility.CRRAUtility)."""
    if gamma == 1.0:
        return xp.log(c)
    return xp.power(c, 1.0 - gamma) / (1.0 - gamma)


def observation(xp, y, shares, bonds, share_unit: float, bond_unit: float, mean_log: float, sd_log: float):
    """The learners' four inputs (orchestrator.agents.Features for a population agent):
    holdings in units of ``holdings_unit_lots`` lots, log dividend standardised, and income
    relative to the endowment's in share units: [..., 4]."""
    level = xp.broadcast_to((xp.log(y) - mean_log) / sd_log, shares.shape)
    cols = [(shares - 1.0) / share_unit, bonds / bond_unit, level, (shares + bonds / y - 1.0) / share_unit]
    return xp.stack(cols, axis=-1).astype(xp.float32)


def reward(xp, y, consumption, gamma: float, scale: float, clip: float | None, floor: float):
    """(u(max(c, floor)) - u(y)) * scale, clipped to [-clip, clip] (reward_shaping: endowment)."""
    r = (crra(xp, xp.maximum(consumption, floor), gamma) - crra(xp, y * xp.ones_like(consumption), gamma)) * scale
    if clip is not None:
        r = xp.clip(r, -clip, clip)
    return r.astype(xp.float32)
