"""The user-facing parametrisation of the dividend laws (docs/model.md section 1).

One set of keys per law (:data:`PARAMETERS`), the same in a config's
``economy.dividend_params``, in ``lucas-abm simulate`` and in ``lucas-abm solve``; this module
turns them into the constructor arguments of :mod:`lucas_abm.dividends`' processes (e.g. the
mean dividend ``ybar`` into the lognormal's ``mu``) and checks each with an error naming it.
"""
from __future__ import annotations

import math
from typing import Sequence

import numpy as np

from lucas_abm.dividends import SMALLEST_LEVEL, THESIS_YBAR, DividendProcess, make_dividend
from lucas_abm.errors import ConfigError, check_range

#: Defaults of the user-facing parametrisation (:func:`dividend_from_params`).
DEFAULT_SIGMA: float = 0.1
DEFAULT_ALPHA: float = 0.9
#: The keys each dividend law accepts, the same in a config's ``economy.dividend_params``, in
#: ``simulate`` and in ``solve`` (as ``--key`` options).
PARAMETERS: dict[str, tuple[str, ...]] = {
    "constant": ("ybar",),
    "iid-lognormal": ("ybar", "mu", "sigma"),
    "markov": ("states", "transition", "initial_state"),
    "log-ar1": ("ybar", "mu", "sigma", "alpha"),
    "mehra-prescott": ("ybar", "mu", "delta", "phi"),
}


def process_arguments(name: str, params: dict, field: str = "") -> dict:
    """The constructor arguments of dividend law ``name`` from the user-facing parameters.

    One parametrisation for every config and command (keys per law in :data:`PARAMETERS`):

    - ``constant``: ``ybar`` (default the thesis' 0.01 exp(1.5));
    - ``iid-lognormal``: ``sigma`` (default 0.1) and either ``mu`` or ``ybar``, the mean
      dividend: ``mu = log(ybar) - sigma^2/2`` so that E[y] = ybar (default ybar: the thesis');
    - ``log-ar1``: ``alpha`` (default 0.9), ``sigma`` (default 0.1) and either ``mu`` or
      ``ybar``, the stationary mean: ``mu = (1 - alpha)(log(ybar) - sigma^2 / (2 (1 - alpha^2)))``;
    - ``markov``: ``states`` and ``transition`` (required), ``initial_state`` (the index of
      the state every episode starts in; default a draw from the stationary law);
    - ``mehra-prescott``: ``mu``, ``delta``, ``phi`` (Mehra-Prescott defaults) and ``ybar``,
      the initial level ``y0`` (default 1).

    Errors name ``field.key`` (``field`` empty: the bare key), e.g.
    ``economy.dividend_params.ybar: must be ...``.
    """
    if name not in PARAMETERS:
        raise ConfigError("dividend", "one of " + ", ".join(PARAMETERS), name)
    if not isinstance(params, dict):
        raise ConfigError(field or "dividend_params", "a mapping of parameter names to values", params)
    key = (lambda k: f"{field}.{k}") if field else (lambda k: k)
    accepted = PARAMETERS[name]
    for k in params:
        if k not in accepted:
            raise ConfigError(key(k), f"a parameter of dividend {name!r}: one of {', '.join(accepted)}",
                              params[k])
    if "ybar" in params and "mu" in params and name in ("iid-lognormal", "log-ar1"):
        raise ConfigError(key("ybar"), f"left out when mu is given (for {name}, ybar only sets mu)",
                          params["ybar"])
    get = params.get
    if name == "constant":
        return {"ybar": _checked(key, "ybar", get("ybar", THESIS_YBAR), SMALLEST_LEVEL, None,
                                 low_open=False)}
    if name == "markov":
        for k in ("states", "transition"):
            if k not in params:
                raise ConfigError(key(k), "given for dividend 'markov' (required: states, transition)")
        out = {"states": params["states"], "transition": params["transition"]}
        if params.get("initial_state") is not None:
            out["initial_state"] = params["initial_state"]
        return out
    if name == "mehra-prescott":
        out = {k: params[k] for k in ("mu", "delta", "phi") if k in params}
        if "ybar" in params:
            out["y0"] = _checked(key, "ybar", params["ybar"], 0.0, None)
        return out
    sigma = _checked(key, "sigma", get("sigma", DEFAULT_SIGMA), 0.0, None, low_open=False)
    ybar = _checked(key, "ybar", get("ybar", THESIS_YBAR), SMALLEST_LEVEL, None, low_open=False)
    if name == "iid-lognormal":
        if "mu" in params:
            return {"mu": _checked(key, "mu", params["mu"]), "sigma": sigma}
        _check_median_from_ybar(key, ybar, sigma, 1.0)
        return {"mu": math.log(ybar) - 0.5 * sigma ** 2, "sigma": sigma}
    alpha = _checked(key, "alpha", get("alpha", DEFAULT_ALPHA), -1.0, 1.0)
    if "mu" in params:
        mu = _checked(key, "mu", params["mu"])
    else:
        _check_median_from_ybar(key, ybar, sigma, 1.0 - alpha ** 2)
        mu = (1.0 - alpha) * (math.log(ybar) - 0.5 * sigma ** 2 / (1.0 - alpha ** 2))
    return {"alpha": alpha, "sigma": sigma, "mu": mu}


#: log of the smallest normal float64 level, about e^-708 (lucas_abm.solver_limits).
_LOG_SMALLEST = -708.0


def _check_median_from_ybar(key, ybar: float, sigma: float, one_minus_alpha2: float) -> None:
    """With mu set by the mean ybar, the (stationary) median is e^m, m = log(ybar) - v/2, v =
    sigma^2/(1 - alpha^2) (1 - alpha^2 := 1 for i.i.d.). m >= -708 keeps e^m a normal float64:
    sigma <= sqrt(2 (log(ybar) + 708) (1 - alpha^2)), checked without squaring sigma (1e200^2
    overflowed)."""
    room = math.log(ybar) - _LOG_SMALLEST
    if room <= 0:
        raise ConfigError(key("ybar"), f">= e^{_LOG_SMALLEST:g} = {math.exp(_LOG_SMALLEST):.3g}", ybar)
    bound = math.sqrt(2.0 * room * one_minus_alpha2)
    if sigma > bound:
        stationary = " and alpha" if one_minus_alpha2 != 1.0 else ""
        raise ConfigError(key("sigma"), f"<= {bound:.4g} with this ybar{stationary} (E[y] = ybar puts "
                          f"the median dividend at e^m, m = log(ybar) - sigma^2/(2(1 - alpha^2)) for "
                          f"log-ar1, log(ybar) - sigma^2/2 for iid-lognormal; e^m must stay above "
                          f"e^{_LOG_SMALLEST:g})", sigma)


def dividend_from_params(name: str, params: dict, field: str = "") -> DividendProcess:
    """Build dividend law ``name`` from the user-facing parameters (:func:`process_arguments`);
    every error names ``field.key``."""
    arguments = process_arguments(name, params, field)
    try:
        return make_dividend(name, **arguments)
    except ConfigError as err:
        name_ = err.field if not field or err.field.startswith(field) else f"{field}.{err.field}"
        raise ConfigError(name_, err.allowed, err.got, detail=err.detail) from None


def _checked(key, name: str, value, low=None, high=None, **kw) -> float:
    return check_range(key(name), value, low, high, **kw)


def dividend_levels(values: Sequence[float], field_name: str = "at") -> np.ndarray:
    """Positive finite dividend levels, or ConfigError naming ``field_name``."""
    try:
        arr = np.array([float(v) for v in values])
    except (TypeError, ValueError):
        raise ConfigError(field_name, "positive numbers", values) from None
    if arr.size == 0 or not np.all(np.isfinite(arr)) or np.any(arr <= 0):
        raise ConfigError(field_name, "positive finite numbers", list(values))
    return arr
