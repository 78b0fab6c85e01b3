"""Scripted (non-learning) traders, vectorised over agents.

Each policy maps the current dividend ``y_t`` to posted prices for all N agents, using the
rational-expectations prices ``p(y)``, ``q(y)`` from :func:`lucas_abm.solver.solve_equilibrium`:

* ``equilibrium``:        every agent posts ``(p(y), q(y))``, so nobody trades;
* ``random``:             ``p(y) U_k``, ``q(y) V_k`` with ``U_k, V_k ~ Uniform[1 - spread, 1 + spread]``
                          i.i.d. over agents and periods (``spread`` = 0.5: half to 1.5 times p*);
* ``noisy-equilibrium``:  ``p(y) (1 + noise Z_k)``, ``q(y) (1 + noise W_k)``, ``Z, W ~ N(0, 1)``
                          i.i.d. (``noise`` = 0.05: a 5% standard deviation).

Noisy prices can be non-positive for large ``noise``; the market then treats them as invalid.
``noise`` is at most ``MAX_NOISE`` = 1e6: beyond about 100 nearly every price is invalid
already, and near 1e308 ``p(y)(1 + noise Z)`` overflows to inf, so the mean posted price would
print nan.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from lucas_abm.errors import ConfigError, check_range
from lucas_abm.solver import EquilibriumPrices

POLICIES = ("equilibrium", "random", "noisy-equilibrium")
MAX_NOISE = 1e6


def check_spread(spread: float) -> float:
    """The random policy's ``spread``, in ``[0, 1)`` (prices ``p(y)(1 +- spread)`` stay > 0)."""
    return check_range("spread", spread, 0.0, 1.0, low_open=False, high_open=True)


def check_noise(noise: float) -> float:
    """The noisy-equilibrium policy's ``noise`` (a relative standard deviation), in ``[0, 1e6]``."""
    return check_range("noise", noise, 0.0, MAX_NOISE, low_open=False, high_open=False)


@dataclass
class ScriptedPolicy:
    """A vectorised scripted policy; call ``policy(dividend, n_agents) -> (tree, bond)``."""

    kind: str
    prices: EquilibriumPrices
    spread: float = 0.5
    noise: float = 0.05
    seed: int | None = None
    rng: np.random.Generator = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if self.kind not in POLICIES:
            raise ConfigError("policy", "one of " + ", ".join(POLICIES), self.kind)
        self.spread, self.noise = check_spread(self.spread), check_noise(self.noise)
        self.rng = np.random.default_rng(self.seed)

    def __call__(self, dividend: float, n_agents: int) -> tuple[np.ndarray, np.ndarray]:
        """Posted ``(tree_price, bond_price)``, each [n_agents] float64, at dividend ``y``."""
        p = float(self.prices.tree_price(dividend))
        q = float(self.prices.bond_price(dividend))
        if self.kind == "equilibrium":
            return np.full(n_agents, p), np.full(n_agents, q)
        if self.kind == "random":
            u = self.rng.uniform(1.0 - self.spread, 1.0 + self.spread, size=(2, n_agents))
        else:
            u = 1.0 + self.noise * self.rng.standard_normal(size=(2, n_agents))
        return p * u[0], q * u[1]


def make_policy(name: str, prices: EquilibriumPrices, seed: int | None = None,
                **kw) -> ScriptedPolicy:
    """Build a scripted policy by name: ``equilibrium``, ``random``, ``noisy-equilibrium``."""
    return ScriptedPolicy(name, prices, seed=seed, **kw)
