"""Market mechanisms: rules that turn posted prices into trades (docs/model.md section 2).

All mechanisms subclass :class:`Mechanism` and override one method, ``propose``; the base
class checks feasibility and settles, so every mechanism keeps the market's invariants.

A mechanism is named either by a built-in name (:data:`MECHANISMS`) or by an import path
``package.module:ClassName`` of any :class:`Mechanism` subclass importable from the user's
environment or the current working directory (which :func:`resolve_mechanism` appends to
``sys.path``), so a user's own class in ``./my_mechanisms.py`` is ``my_mechanisms:MyClass``.
Parameters go to the class' constructor and are checked against its signature first.
"""
from __future__ import annotations

import importlib
import inspect
import os
import sys
from typing import Any

from lucas_abm.errors import ConfigError
from lucas_abm.mechanisms.base import (Mechanism, MechanismError, Proposal, Settlement,
                                       TradingRules, valid_prices)
from lucas_abm.mechanisms.call_auction import CallAuction
from lucas_abm.mechanisms.orders import Fills, OrderMechanism, Orders
from lucas_abm.mechanisms.pairwise import (BargainingPairwiseMatching, PairwiseMatching,
                                            TickPairwiseMatching)

MECHANISMS = {
    "pairwise": PairwiseMatching,
    "bargaining": BargainingPairwiseMatching,
    "call-auction": CallAuction,
    "pairwise-tick": TickPairwiseMatching,
}
ALLOWED = ("one of " + ", ".join(MECHANISMS)
           + " or an import path package.module:ClassName of a Mechanism subclass")


def resolve_mechanism(spec: Any, field: str = "mechanism") -> type[Mechanism]:
    """The :class:`Mechanism` subclass named by ``spec``: a built-in name or ``module:Class``.

    The module is imported with the current working directory on ``sys.path`` (appended, so
    it never shadows an installed package). Any failure is a :class:`ConfigError` on ``field``.
    """
    if isinstance(spec, str) and spec in MECHANISMS:
        return MECHANISMS[spec]
    if not isinstance(spec, str) or spec.count(":") != 1:
        raise ConfigError(field, ALLOWED, spec)
    module_name, attribute = (part.strip() for part in spec.split(":"))
    if not module_name or not attribute:
        raise ConfigError(field, ALLOWED, spec)
    cwd = os.getcwd()
    if cwd not in sys.path:
        sys.path.append(cwd)
    try:
        module = importlib.import_module(module_name)
    except ImportError as err:
        raise ConfigError(field, "an importable module:ClassName (the module is looked up in "
                          "the installed packages and the working directory)", spec,
                          detail=str(err)) from None
    except Exception as err:  # the user's module itself failed: say where
        raise ConfigError(field, "an importable module:ClassName", spec,
                          detail=f"importing {module_name} raised {type(err).__name__}: {err}") from None
    cls: Any = module
    for part in attribute.split("."):
        cls = getattr(cls, part, None)
    if not (isinstance(cls, type) and issubclass(cls, Mechanism)):
        found = "nothing" if cls is None else repr(cls)
        raise ConfigError(field, "the import path of a lucas_abm.mechanisms.Mechanism subclass",
                          spec, detail=f"{module_name} has {found} under {attribute!r}")
    if inspect.isabstract(cls):
        raise ConfigError(field, "a Mechanism subclass that overrides propose", spec)
    return cls


def check_parameters(cls: type, params: dict, field: str = "mechanism_params") -> None:
    """Every key of ``params`` is a constructor parameter of ``cls`` and every required one is
    given; otherwise a :class:`ConfigError` naming ``field.key``."""
    if not isinstance(params, dict):
        raise ConfigError(field, "a mapping of parameter names to values", params)
    signature = inspect.signature(cls)
    parameters = [p for p in signature.parameters.values()
                  if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
    takes_any = any(p.kind is p.VAR_KEYWORD for p in signature.parameters.values())
    names = [p.name for p in parameters]
    for key in params:
        if key in names or takes_any:
            continue
        if names:
            raise ConfigError(f"{field}.{key}", f"a parameter of {cls.__name__} ({', '.join(names)})",
                              params[key])
        raise ConfigError(f"{field}.{key}", f"left out ({cls.__name__} takes no parameters)",
                          params[key])
    for p in parameters:
        if p.default is p.empty and p.name not in params:
            raise ConfigError(f"{field}.{p.name}", f"given (required by {cls.__name__})")


def build_mechanism(spec: Any, params: dict | None = None, *, field: str = "mechanism",
                    params_field: str = "mechanism_params") -> Mechanism:
    """Resolve ``spec``, check ``params`` against the constructor, and construct the mechanism.

    Errors raised by the constructor (:class:`ConfigError` on a bare parameter name, or
    ``TypeError``/``ValueError``) are reported on ``params_field``.
    """
    cls = resolve_mechanism(spec, field)
    params = {} if params is None else params
    check_parameters(cls, params, params_field)
    try:
        mechanism = cls(**params)
    except ConfigError as err:
        name = err.field if err.field.startswith(params_field) else f"{params_field}.{err.field}"
        raise ConfigError(name, err.allowed, err.got, detail=None) from None
    except (TypeError, ValueError) as err:
        raise ConfigError(params_field, f"parameters accepted by {cls.__name__}", params,
                          detail=str(err)) from None
    return mechanism


def make_mechanism(name: str, **kw) -> Mechanism:
    """Build a mechanism by registry name (``pairwise``, ``bargaining`` with ``theta=``,
    ``call-auction``) or import path ``module:ClassName``, with constructor parameters ``kw``."""
    return build_mechanism(name, kw)


__all__ = ["Mechanism", "MechanismError", "Proposal", "Settlement", "TradingRules",
           "valid_prices", "PairwiseMatching", "BargainingPairwiseMatching", "TickPairwiseMatching",
           "CallAuction", "OrderMechanism", "Orders", "Fills",
           "MECHANISMS", "make_mechanism", "build_mechanism", "resolve_mechanism",
           "check_parameters"]
