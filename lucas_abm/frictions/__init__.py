"""Continuous-time market equilibrium with trading costs among N mean-variance agents.

Modules: ``config`` (MarketConfig, presets), ``paths`` (Brownian paths, simulated markets),
``exact`` (q = 2 Riccati solution), ``leading_order`` (q = 3/2, N = 2), ``frictionless``,
``metrics``, ``solvers`` (one entry point per method), ``rgan`` and ``baselines`` (TensorFlow),
``figures`` and ``compare`` (the comparison table). Conventions are stated in ``config``.
"""
from lucas_abm.frictions.config import METHODS, PRESETS, MarketConfig, preset

__all__ = ["METHODS", "PRESETS", "MarketConfig", "preset"]
