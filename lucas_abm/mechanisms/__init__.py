"""Market mechanisms: rules that turn posted prices into trades (model.md section 2).

All mechanisms subclass :class:`Mechanism` and override one method, ``propose``; the base
class checks feasibility and settles, so every mechanism keeps the market's invariants.
"""
from __future__ import annotations

from lucas_abm.errors import ConfigError
from lucas_abm.mechanisms.base import (Mechanism, MechanismError, Proposal, Settlement,
                                       TradingRules, valid_prices)
from lucas_abm.mechanisms.call_auction import CallAuction
from lucas_abm.mechanisms.pairwise import BargainingPairwiseMatching, PairwiseMatching

MECHANISMS = {
    "pairwise": PairwiseMatching,
    "bargaining": BargainingPairwiseMatching,
    "call-auction": CallAuction,
}


def make_mechanism(name: str, **kw) -> Mechanism:
    """Build a mechanism by registry name: ``pairwise``, ``bargaining`` (``theta=``), ``call-auction``."""
    if name not in MECHANISMS:
        raise ConfigError("mechanism", "one of " + ", ".join(MECHANISMS), name)
    return MECHANISMS[name](**kw)


__all__ = ["Mechanism", "MechanismError", "Proposal", "Settlement", "TradingRules",
           "valid_prices", "PairwiseMatching", "BargainingPairwiseMatching", "CallAuction",
           "MECHANISMS", "make_mechanism"]
