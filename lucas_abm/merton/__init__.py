"""Merton's consumption-portfolio problem: a known answer to test deep solvers on.

Modules: ``problem`` (parameters, closed form, HJB residuals; no TensorFlow), ``evaluate``
(errors on the wealth grid), ``networks``, ``pinn`` (naive and repaired PINN),
``actor_critic`` (deep policy iteration), ``solvers`` (one entry point per method).
See docs/merton.md.
"""
from lucas_abm.merton.problem import MertonProblem, wealth_grid

METHODS = ("pinn", "repaired-pinn", "actor-critic")

__all__ = ["METHODS", "MertonProblem", "wealth_grid"]
