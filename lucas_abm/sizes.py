"""Size laws for traders (docs/model.md section 4.2): how big each agent is.

A size law is parsed once from a config value and then draws a vector of positive sizes
``S_1, ..., S_n`` from a seeded generator, vectorised:

- ``2.5``                          constant:  ``S_i = 2.5``
- ``{pareto: {zeta: Z}}``          Pareto with tail exponent Z and x_min 1:
                                   ``P(S > x) = x^(-Z)`` for x >= 1, drawn as ``S = U^(-1/Z)``
                                   with U uniform on (0, 1]
- ``{zipf: {}}``                   Zipf's law, the Pareto law with ``Z = 1`` (Gabaix 2011)
- ``{lognormal: {sigma: S}}``      ``log S_i ~ N(mu, S^2)``, ``mu`` optional (default 0)
- ``[1.0, 4.0, 0.5]``              an explicit list, one positive size per agent

Bad input raises :class:`~lucas_abm.errors.ConfigError` naming the field, e.g.
``size.pareto.zeta: must be in (0, inf), got -1``.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Mapping

import numpy as np

from lucas_abm.errors import ConfigError, check_range

#: The kinds of size law, in the order the docs list them.
SIZE_LAW_KINDS = ("constant", "pareto", "lognormal", "zipf", "list")


@dataclass(frozen=True)
class SizeLaw:
    """A law for agents' sizes: ``kind`` in :data:`SIZE_LAW_KINDS` and its ``params``.

    ``params`` by kind: constant ``{"value": c}``; pareto ``{"zeta": Z}``; zipf
    ``{"zeta": 1.0}``; lognormal ``{"sigma": s, "mu": m}``; list ``{"values": (S_1, ...)}``.
    ``field`` is the config field the law came from, used in error messages only.
    """

    kind: str
    params: Mapping[str, Any]
    field: str = field(default="size", compare=False)

    @property
    def tail_exponent(self) -> float | None:
        """zeta for the Pareto and Zipf laws (``P(S > x) ~ x^-zeta``), None otherwise."""
        return float(self.params["zeta"]) if self.kind in ("pareto", "zipf") else None


def _positive(field_name: str, value: Any) -> float:
    if isinstance(value, bool):
        raise ConfigError(field_name, "a number in (0, inf)", value)
    return check_range(field_name, value, 0.0, None)


def _only_keys(field_name: str, spec: Any, allowed: tuple[str, ...], required: tuple[str, ...]) -> dict:
    if spec is None:
        spec = {}
    if not isinstance(spec, Mapping):
        raise ConfigError(field_name, "a mapping with keys " + ", ".join(allowed) if allowed
                          else "an empty mapping {}", spec)
    unknown = sorted(set(map(str, spec)) - set(allowed))
    if unknown:
        raise ConfigError(f"{field_name}.{unknown[0]}", "one of the keys " + (", ".join(allowed) or "(none)"),
                          spec[unknown[0]])
    for key in required:
        if key not in spec:
            raise ConfigError(f"{field_name}.{key}", "given", None, detail="missing")
    return dict(spec)


MAX_LOG_SCALE = 700.0   # |mu| of a lognormal size law: e^700 = 1e304 (float64 ends at e^709.8)


def parse_size_law(value: Any, field: str) -> SizeLaw:
    """Parse a config value (number, one-key mapping or list) into a :class:`SizeLaw`.

    ``field`` names the config entry (e.g. ``population[1].size``) in error messages.
    """
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return SizeLaw("constant", {"value": _positive(field, value)}, field)
    if isinstance(value, (list, tuple, np.ndarray)):
        if len(value) == 0:
            raise ConfigError(field, "a non-empty list of numbers in (0, inf)", list(value))
        values = tuple(_positive(f"{field}[{i}]", v) for i, v in enumerate(value))
        return SizeLaw("list", {"values": values}, field)
    if isinstance(value, str) and value == "zipf":
        return SizeLaw("zipf", {"zeta": 1.0}, field)
    allowed = ("a number > 0, a list of numbers > 0, or one of {constant: c}, {pareto: {zeta: Z}}, "
               "{lognormal: {sigma: S}}, {zipf: {}}")
    if not isinstance(value, Mapping) or len(value) != 1:
        raise ConfigError(field, allowed, value)
    (kind, spec), = value.items()
    sub = f"{field}.{kind}"
    if kind == "constant":
        return SizeLaw("constant", {"value": _positive(sub, spec)}, field)
    if kind == "pareto":
        spec = _only_keys(sub, spec, ("zeta",), ("zeta",))
        return SizeLaw("pareto", {"zeta": _positive(f"{sub}.zeta", spec["zeta"])}, field)
    if kind == "zipf":
        _only_keys(sub, spec, (), ())
        return SizeLaw("zipf", {"zeta": 1.0}, field)
    if kind == "lognormal":
        spec = _only_keys(sub, spec, ("sigma", "mu"), ("sigma",))
        sigma = check_range(f"{sub}.sigma", spec["sigma"], 0.0, None, low_open=False)
        # sizes are relative (holdings are proportional to them), so mu only scales them; it
        # is bounded where e^mu itself stays a float64 with room for the draws
        mu = check_range(f"{sub}.mu", spec.get("mu", 0.0), -MAX_LOG_SCALE, MAX_LOG_SCALE,
                         low_open=False, high_open=False)
        return SizeLaw("lognormal", {"sigma": sigma, "mu": mu}, field)
    if kind == "list":
        return parse_size_law(list(spec) if isinstance(spec, (list, tuple)) else spec, field)
    raise ConfigError(field, allowed, value)


def draw_sizes(law: SizeLaw, n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` positive float64 sizes drawn from ``law`` with ``rng`` (seeded, vectorised).

    Pareto/Zipf: ``S = U^(-1/zeta)`` with ``U = 1 - rng.random(n)`` in (0, 1], so ``S >= 1``.
    A list law must have exactly ``n`` entries (one per agent) and uses no randomness.
    """
    n = int(n)
    if n < 1:
        raise ConfigError("n", "an integer >= 1", n)
    with np.errstate(over="ignore", under="ignore"):
        sizes = _draw(law, n, rng)
        total = sizes.sum()
    if not np.isfinite(total) or not np.all(sizes > 0):
        _refuse_unrepresentable(law, n, sizes)
    return sizes


def _draw(law: SizeLaw, n: int, rng: np.random.Generator) -> np.ndarray:
    if law.kind == "constant":
        return np.full(n, float(law.params["value"]), dtype=np.float64)
    if law.kind in ("pareto", "zipf"):
        u = 1.0 - rng.random(n)
        return u ** (-1.0 / float(law.params["zeta"]))
    if law.kind == "lognormal":
        return np.exp(float(law.params["mu"]) + float(law.params["sigma"]) * rng.standard_normal(n))
    if law.kind == "list":
        values = np.asarray(law.params["values"], dtype=np.float64)
        if values.size != n:
            raise ConfigError(law.field, f"a list of {n} sizes (one per agent)", f"{values.size} sizes")
        return values.copy()
    raise ConfigError(f"{law.field}", "a size law of kind " + ", ".join(SIZE_LAW_KINDS), law.kind)


def _refuse_unrepresentable(law: SizeLaw, n: int, sizes: np.ndarray) -> None:
    """Sizes that overflow (Pareto with a tiny zeta: U^(-1/zeta)), underflow to 0 (lognormal with
    a large sigma) or sum past float64 give nan shares downstream: name the parameter to change."""
    what = f"{n} sizes drawn from it are positive float64s with a float64 sum"
    if law.kind == "pareto":
        field, value = f"{law.field}.pareto.zeta", law.params["zeta"]
        allowed = f"large enough that {what}"
    elif law.kind == "lognormal":
        field, value = f"{law.field}.lognormal.sigma", law.params["sigma"]
        allowed = f"small enough (with mu = {law.params['mu']:g}) that {what}"
    else:
        field, value = law.field, law.params.get("value", law.params.get("values"))
        allowed = f"sizes whose total over {n} agents is a float64"
    with np.errstate(over="ignore", invalid="ignore"):
        detail = f"largest drawn {np.max(sizes):.3g}, smallest {np.min(sizes):.3g}"
    raise ConfigError(field, allowed, value, detail=detail)


def herfindahl_root(sizes: np.ndarray) -> float:
    """``h = sqrt(sum_i (S_i / sum_j S_j)^2)``, the square root of the sizes' Herfindahl index."""
    s = np.asarray(sizes, dtype=np.float64)
    total = s.sum()
    with np.errstate(over="ignore"):
        square = np.dot(s, s)
    if not np.isfinite(square):                   # sizes past ~1e154: scale by the largest first
        w = s / s.max()
        return float(math.sqrt(np.dot(w, w)) / (total / s.max()))
    return float(math.sqrt(square) / total)
