"""A learned Merton solution on the wealth grid and its errors against the closed form.

Errors, at every grid wealth ``W_j`` (log grid over [w_min, w_max]):

* ``pi``: ``|pi(W) - pi*| / |pi*|`` (absolute ``|pi(W)|`` when ``mu = r``, where ``pi* = 0``);
* ``c/W``: ``|nu(W) - nu*| / nu*``;
* HJB residual: ``|rho V - H(V; pi, c)| / |rho V|`` with the method's own value and policy.

A control that is not a finite number (e.g. a naive PINN whose ``V_W <= 0`` or ``V_WW >= 0``)
counts as an infinite error and in ``undefined_fraction``. Summaries give the max and median
over the grid, and per decade of wealth (``by_decade``) the max over the points where the
controls exist and the share where they do not, to say *where* a method fails.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from lucas_abm.merton.problem import MertonProblem


@dataclass
class MertonSolution:
    """Learned policy and HJB residual of one method on the grid ``wealth``."""

    method: str
    wealth: np.ndarray
    pi: np.ndarray
    consumption_rate: np.ndarray
    residual: np.ndarray          # (rho V - H)/|rho V| at each wealth
    seconds: float
    iterations: int
    info: dict = field(default_factory=dict)


def relative_errors(problem: MertonProblem, pi: np.ndarray, nu: np.ndarray):
    """``(|pi - pi*|/|pi*|, |nu - nu*|/nu*)`` with non-finite controls mapped to ``inf``."""
    pi_star, nu_star = problem.merton_share, problem.consumption_rate
    pi_scale = abs(pi_star) if pi_star != 0 else 1.0
    e_pi = np.abs(np.asarray(pi, float) - pi_star) / pi_scale
    e_nu = np.abs(np.asarray(nu, float) - nu_star) / nu_star
    return np.where(np.isfinite(e_pi), e_pi, np.inf), np.where(np.isfinite(e_nu), e_nu, np.inf)


def _by_decade(wealth: np.ndarray, e_pi: np.ndarray, e_nu: np.ndarray) -> list[dict]:
    """Per decade of wealth: max errors over the points where the controls exist (``None`` if
    they exist nowhere in it) and the share of points where they do not."""
    lo, hi = math.floor(math.log10(wealth[0]) + 1e-9), math.ceil(math.log10(wealth[-1]) - 1e-9)
    rows = []
    for k in range(lo, hi):
        inside = (wealth >= 10.0 ** k * (1 - 1e-12)) & (wealth <= 10.0 ** (k + 1) * (1 + 1e-12))
        defined = inside & np.isfinite(e_pi) & np.isfinite(e_nu)
        rows.append({"decade": f"[1e{k}, 1e{k + 1}]",
                     "pi_max": float(np.max(e_pi[defined])) if defined.any() else None,
                     "c_max": float(np.max(e_nu[defined])) if defined.any() else None,
                     "undefined": float(1.0 - defined.sum() / inside.sum())})
    return rows


def error_summary(problem: MertonProblem, solution: MertonSolution) -> dict:
    """Max / median relative errors of pi and c/W, the HJB residual, seconds (JSON-ready)."""
    e_pi, e_nu = relative_errors(problem, solution.pi, solution.consumption_rate)
    res = np.abs(np.asarray(solution.residual, float))
    res = np.where(np.isfinite(res), res, np.inf)
    worst = np.maximum(e_pi, e_nu)
    undefined = ~(np.isfinite(solution.pi) & np.isfinite(solution.consumption_rate))
    return {
        "method": solution.method,
        "gamma": problem.gamma,
        "pi_star": problem.merton_share,
        "consumption_rate_star": problem.consumption_rate,
        "pi_error_kind": "relative" if problem.merton_share != 0 else "absolute",
        "pi_max_rel_err": float(np.max(e_pi)),
        "pi_median_rel_err": float(np.median(e_pi)),
        "c_max_rel_err": float(np.max(e_nu)),
        "c_median_rel_err": float(np.median(e_nu)),
        "hjb_max": float(np.max(res)),
        "hjb_median": float(np.median(res)),
        "share_within_1pct": float(np.mean(worst < 0.01)),
        "undefined_fraction": float(np.mean(undefined)),
        "by_decade": _by_decade(solution.wealth, e_pi, e_nu),
        "seconds": float(solution.seconds),
        "iterations": int(solution.iterations),
        "grid_points": int(len(solution.wealth)),
    }


def result_json(problem: MertonProblem, solution: MertonSolution) -> dict:
    """What ``lucas-abm merton --json`` prints: the policy on the grid and the error summary
    (``null`` where a number is not finite, e.g. an undefined control)."""
    return json_ready({
        "method": solution.method,
        "problem": problem.describe(),
        "wealth": solution.wealth.tolist(),
        "pi": np.asarray(solution.pi).tolist(),
        "consumption_rate": np.asarray(solution.consumption_rate).tolist(),
        "summary": error_summary(problem, solution),
        "info": solution.info,
    })


def json_ready(obj):
    """Nested dicts/lists with every non-finite float replaced by ``None`` (strict JSON)."""
    if isinstance(obj, dict):
        return {k: json_ready(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [json_ready(v) for v in obj]
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj
