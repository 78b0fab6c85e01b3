"""Linear demand schedules: a uniform-price auction of price-taking traders.

A limit order ``(L, x)`` is a step: all of x at any price better than L, nothing beyond. When
every agent of a type posts the same step (one network per type), any price between the
buyers' and the sellers' limits executes the same volume, the auction picks the midpoint,
and each type sets the price by bargaining: it is pivotal however many agents it has
(docs/acceptance_b.md, "Two types on a Markov chain"). A price-taker's order instead
depends on the price. Here agent k submits, for each asset, a **reservation value**
``v_k > 0``, a base quantity ``x_k`` and a slope ``a_k >= 0`` (quantity per unit of relative
price gap); its order at price P is the linear schedule

    z_k(P) = clip(x_k + a_k (1 - P / v_k), lo_k, hi_k).

* tree: ``x_k = 0``, ``z_k`` = shares bought (sold if negative), ``lo_k = -s_k`` (no short
  sale). The agent keeps its holding at ``P = v_k``, buys below and sells above: ``v_k`` is
  its marginal valuation of the tree at its current holding.
* bond: ``x_k = b_k`` (the maturing position, rolled over at ``P = v_k``), ``z_k`` = the new
  one-period position, ``lo_k = -borrowing_limit_k``.

The auction clears each asset at the price where the schedules sum to zero,

    Z(P) = sum_k z_k(P) = 0,

(tree: purchases equal sales; bond: lending equals borrowing). Z is continuous, piecewise
linear and non-increasing, so the root is found exactly: the kinks (where a clip starts or
stops binding) are sorted, Z is evaluated at each by cumulative sums and the bracketing piece
is solved linearly; O(N log N). Where Z = 0 on an interval the price is its midpoint. Without
clips, ``P = sum_k a_k / sum_k (a_k / v_k)``: the a-weighted harmonic mean of the reservation
values. If Z has no root (every elastic schedule clipped on one side) nothing trades: tree
fills are 0, every new bond position 0 (debts are repaid) and the reported price is NaN.

**Budget** (``hi_k``). Cash spent at the clearing prices, ``P z^tree_k + Q z^bond_k``, must
not exceed income. The auction clears without upper bounds; an agent that overspends has its
purchases capped at the quantities its income plus its sale proceeds pay for (both assets
scaled by one factor), and both assets are cleared again, for at most :data:`BUDGET_PASSES`
rounds (caps only tighten). An agent still over budget after them is left with consumption
below zero (the market scores it at the consumption floor). Capped agents that buy are
flagged infeasible.

**Tree settlement** (``tree_settlement``). ``"cash"`` (the default): tree purchases are paid
out of this period's income, so a buyer consumes less now. ``"bonds"``: trees are paid for
with bonds at the bond's clearing price Q, as a purchase on margin. A buyer of z trees issues
``phi P z / Q`` more bonds than its bond schedule asks for (up to its borrowing limit: whatever
its remaining capacity ``(b_k + L_k) Q`` does not cover is paid in cash; ``phi``, the
``financed_fraction``, is 1 unless set lower, and the rest ``(1 - phi) P z`` is paid in cash),
and the sellers take the bonds issued, each in proportion to its sale proceeds, and the rest
in cash:

    financed_k = min(phi P z_k, (b_k + L_k) Q)  (buyers),   F = sum_k financed_k,
    b_k <- b_k + [-financed_k + F (P |z_k| / sum_j P |z_j|) 1{z_k < 0}] / Q.

Cash paid for trees is unchanged (``P z_k``); the bond cash ``Q b_k`` absorbs the financing,
so a fully financed purchase leaves consumption as it was (with phi < 1 the buyer's
consumption falls by the cash part, ``(1 - phi) P z``). This is the rebalancing of the
complete-markets equilibrium, which trades trees for bonds with almost no change in
consumption (docs/acceptance_b.md, "Trees paid for with bonds"). Without a bond price
(Q NaN) or a tree trade, settlement is in cash.

Every fill moves quantity between agents at one price, and the fills sum to zero up to
round-off, so shares, bonds (zero in total) and consumption = income are conserved whatever
the reservation values (NaN/inf: refused, flagged invalid, slope 0 and base 0).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lucas_abm.errors import ConfigError
from lucas_abm.mechanisms.base import Settlement, TradingRules, posted_prices, valid_prices
from lucas_abm.mechanisms.orders import traded_volume

#: Rounds of re-clearing with budget caps (each round caps the agents still over budget).
BUDGET_PASSES = 8
#: Relative slack before spending counts as over income.
BUDGET_RTOL = 1e-9
#: How a tree purchase is paid (module docstring, "Tree settlement").
TREE_SETTLEMENTS = ("cash", "bonds")


@dataclass(frozen=True)
class Schedules:
    """One period's schedules per asset, each [N]: reservation values and slopes (quantity
    per unit of relative price gap, ``a_k``). The bases are the market's (0 for the tree, the
    maturing bond position for the bond)."""

    tree_value: np.ndarray
    tree_slope: np.ndarray
    bond_value: np.ndarray
    bond_slope: np.ndarray


def schedule_arguments(tree_slope: float, bond_slope: float, initial_shares) -> tuple:
    """The extra arguments of ``LucasMarket.step`` for schedules of slopes ``a`` per initial
    share: ``(None, None, a_tree s0_i, a_bond s0_i)`` (no quantities; the posted prices are the
    reservation values). Every schedule trader builds them here: the Q-learners' grid
    (orchestrator.agents.ActionGrid), the actor-critics (orchestrator.learners.rules) and the
    correct price-takers (lucas_abm.price_takers)."""
    s0 = np.asarray(initial_shares, float)
    return None, None, tree_slope * s0, bond_slope * s0


def clear_schedule(value: np.ndarray, base: np.ndarray, slope: np.ndarray, lo: np.ndarray,
                   hi: np.ndarray, max_price: float = np.inf) -> tuple[float, np.ndarray]:
    """The price P in (0, max_price] with ``sum_k clip(base_k + slope_k (1 - P / value_k), lo_k,
    hi_k) = 0`` and the quantities ``z_k(P)``; ``(nan, zeros)`` when no such P clears.

    ``max_price`` is the market's cap on posted prices (TradingRules.max_price): a root above
    it comes from slopes too small to absorb the fixed positions (e.g. 1e-24, P ~ 1e21), where
    the positions' round-off times P would create cash, so the asset does not trade.

    ``lo`` is finite, ``hi`` may be +inf. Agents with ``slope_k = 0`` contribute the constant
    ``clip(base_k, lo_k, hi_k)``. On the piece between two kinks ``Z(P) = level - s P``.
    """
    n = value.shape[0]
    none = float("nan"), np.zeros(n)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        a_all = slope / value
        lower_kink = (base + slope - lo) / a_all
        upper_kink = np.where(np.isinf(hi), 0.0, (base + slope - hi) / a_all)
    # elastic: a positive slope whose kinks are numbers (a subnormal slope acts as a constant)
    elastic = (slope > 0) & np.isfinite(lower_kink) & np.isfinite(upper_kink)
    if not elastic.any():
        return none
    a = a_all[elastic]                                 # dz_k/dP = -a_k between the kinks
    c = base[elastic] + slope[elastic]                 # z_k = c_k - a_k P unclipped
    lo_e, hi_e = lo[elastic], hi[elastic]
    capped = np.isfinite(hi_e)
    # below every kink: capped agents at hi, uncapped ones on their line
    level = float(np.clip(base[~elastic], lo[~elastic], hi[~elastic]).sum())
    level += float(hi_e[capped].sum()) + float(c[~capped].sum())
    s0 = float(a[~capped].sum())
    kinks = np.concatenate([(c[capped] - hi_e[capped]) / a[capped], (c - lo_e) / a])
    d_level = np.concatenate([c[capped] - hi_e[capped], lo_e - c])
    d_slope = np.concatenate([a[capped], -a])
    order = np.argsort(kinks, kind="stable")
    kinks = kinks[order]
    levels = level + np.concatenate([[0.0], np.cumsum(d_level[order])])   # piece j: [k_{j-1}, k_j)
    slopes = s0 + np.concatenate([[0.0], np.cumsum(d_slope[order])])
    z_kink = levels[1:] - slopes[1:] * kinks                              # Z at each kink
    below = np.flatnonzero(z_kink <= 0.0)
    if below.size == 0:                                # Z > 0 up to the last kink, flat after
        return none
    j = int(below[0])                                  # the root lies on piece j, at or below k_j
    if z_kink[j] == 0.0:                               # a kink is a root; Z may stay 0 after it
        last = j
        while last + 1 < kinks.size and z_kink[last + 1] == 0.0:
            last += 1
        price = 0.5 * (kinks[j] + kinks[last])
    elif slopes[j] > 0.0:   # the root of level - s P, kept in its bracket against round-off
        price = min(levels[j] / slopes[j], kinks[j])
        if j > 0:
            price = max(price, kinks[j - 1])
    else:                                              # piece 0 flat and already <= 0
        return none
    if not (np.isfinite(price) and 0.0 < price <= max_price):
        return none
    z = np.clip(base, lo, hi)
    z[elastic] = np.clip(c - a * price, lo_e, hi_e)
    return float(price), z


def finance_with_bonds(tree_fill: np.ndarray, bond_position: np.ndarray, tree_price: float,
                       bond_price: float, limits: np.ndarray, fraction: float = 1.0) -> np.ndarray:
    """The bond positions after trees are paid for with bonds (module docstring, "Tree
    settlement"): buyers issue ``financed_k / Q`` bonds, ``financed_k = min(phi P z_k, (b_k + L_k) Q)``
    with ``phi = fraction``, sellers take them in proportion to their proceeds. Positions sum as
    before (to zero)."""
    proceeds = np.maximum(-tree_fill, 0.0) * tree_price
    capacity = np.maximum(bond_position + limits, 0.0) * bond_price
    financed = np.minimum(fraction * np.maximum(tree_fill, 0.0) * tree_price, capacity)
    total, sold = float(financed.sum()), float(proceeds.sum())
    if total <= 0.0 or sold <= 0.0:
        return bond_position
    return bond_position + (proceeds * (total / sold) - financed) / bond_price


def execute_schedules(schedules: Schedules, income: np.ndarray, shares: np.ndarray,
                      bonds: np.ndarray, rules: TradingRules,
                      tree_settlement: str = "cash", financed_fraction: float = 1.0) -> Settlement:
    """Refuse invalid schedules, clear both assets, cap over-budget agents, settle (trees paid
    in cash or, with ``tree_settlement="bonds"``, the fraction ``financed_fraction`` of each
    purchase in bonds: :func:`finance_with_bonds`)."""
    if tree_settlement not in TREE_SETTLEMENTS:
        raise ConfigError("tree_settlement", " or ".join(map(repr, TREE_SETTLEMENTS)), tree_settlement)
    n = income.shape[0]
    vt = posted_prices("tree_value", schedules.tree_value, n, "schedule values")
    vb = posted_prices("bond_value", schedules.bond_value, n, "schedule values")
    at = posted_prices("tree_slope", schedules.tree_slope, n, "schedule slopes")
    ab = posted_prices("bond_slope", schedules.bond_slope, n, "schedule slopes")
    with np.errstate(invalid="ignore"):
        ok_t = valid_prices(vt, rules.max_price) & np.isfinite(at) & (at >= 0)
        ok_b = valid_prices(vb, rules.max_price) & np.isfinite(ab) & (ab >= 0)
    vt, at = np.where(ok_t, vt, 1.0), np.where(ok_t, at, 0.0)
    vb, ab = np.where(ok_b, vb, 1.0), np.where(ok_b, ab, 0.0)
    limits = rules.borrowing_limits
    limits = np.full(n, rules.borrowing_limit) if limits is None else limits
    base_t = np.zeros(n)
    base_b = np.where(ok_b, np.maximum(bonds, -limits), 0.0)
    lo_t, lo_b = -shares, -limits
    hi_t, hi_b = np.full(n, np.inf), np.full(n, np.inf)
    capped = np.zeros(n, bool)
    for _ in range(BUDGET_PASSES):
        p, zt = clear_schedule(vt, base_t, at, lo_t, hi_t, rules.max_price)
        q, zb = clear_schedule(vb, base_b, ab, lo_b, hi_b, rules.max_price)
        if tree_settlement == "bonds" and np.isfinite(p) and np.isfinite(q):
            zb = finance_with_bonds(zt, zb, p, q, limits, financed_fraction)
        cash_t = zt * p if np.isfinite(p) else np.zeros(n)
        cash_b = zb * q if np.isfinite(q) else np.zeros(n)
        over = cash_t + cash_b > income + BUDGET_RTOL * np.abs(income)
        if not over.any():
            break
        bought = np.maximum(cash_t, 0.0) + np.maximum(cash_b, 0.0)
        paid_by = np.maximum(income - np.minimum(cash_t, 0.0) - np.minimum(cash_b, 0.0), 0.0)
        scale = np.where(over, paid_by / np.where(bought > 0, bought, 1.0), 1.0)
        hi_t = np.where(over, np.maximum(zt, 0.0) * scale, hi_t)
        hi_b = np.where(over, np.maximum(zb, 0.0) * scale, hi_b)
        capped |= over
    t_vol, t_mean = traded_volume(zt, cash_t, rules.tree_lot)
    b_vol, b_mean = traded_volume(zb, cash_b, rules.bond_lot)
    return Settlement(zt, zb, cash_t, cash_b, t_vol, b_vol, t_mean, b_mean, ~ok_t, ~ok_b,
                      capped & (zt > 0), capped & (zb > 0), p, q)

