"""lucas-abm: the Lucas (1978) tree economy as an agent-based market of deep-RL traders.

Economics lives here (dividends, utility, the equilibrium solver, market mechanisms,
the market environment, scripted agents); the training loop lives in ``orchestrator``
and experience replay in ``replay``.

The Python API (what the ``lucas-abm`` commands do), importable from the top level::

    import lucas_abm
    prices = lucas_abm.solve_equilibrium(lucas_abm.make_dividend("constant", ybar=0.0448168907),
                                         beta=0.95, gamma=1.0)        # p* = 0.851521, q* = 0.95
    market, policy, prices = lucas_abm.SimulationConfig(agents=100, steps=10).build()
    obs = market.reset(); out = market.step(*policy(market.dividend, market.n_agents))
    summary = lucas_abm.train("configs/thesis_cpu.yaml", "runs/api")   # the summary dict
    population = lucas_abm.load_population("examples/two_types.yaml")  # heterogeneous traders
    eq = lucas_abm.solve_population(population, [0.04, 0.05], [[0.9, 0.1], [0.2, 0.8]])
    sweep = lucas_abm.run_granular(lucas_abm.GranularConfig())          # `lucas-abm granular`

Names are imported on first use, so ``import lucas_abm`` loads neither numba nor TensorFlow
(``train`` imports TensorFlow when called).
"""
from __future__ import annotations

import importlib
from importlib import metadata as _metadata

try:  # single source: the version in pyproject.toml, as installed
    __version__ = _metadata.version("lucas-abm")
except _metadata.PackageNotFoundError:  # a source tree used without installing it
    __version__ = "0+unknown"

#: public name -> module that defines it (imported lazily, PEP 562)
_API = {
    "solve_equilibrium": "lucas_abm.solver",
    "EquilibriumPrices": "lucas_abm.solver",
    "make_dividend": "lucas_abm.dividends",
    "CRRAUtility": "lucas_abm.utility",
    "LucasMarket": "lucas_abm.market",
    "MarketConfig": "lucas_abm.market",
    "MarketStep": "lucas_abm.market",
    "Mechanism": "lucas_abm.mechanisms",
    "make_mechanism": "lucas_abm.mechanisms",
    "SimulationConfig": "lucas_abm.simulate",
    "run_simulation": "lucas_abm.simulate",
    "train": "lucas_abm.api",
    "load_population": "lucas_abm.population",
    "parse_population": "lucas_abm.population",
    "Population": "lucas_abm.population",
    "solve_population": "lucas_abm.equilibrium.dispatch",
    "PanelRecorder": "lucas_abm.panels",
    "pricing_errors": "lucas_abm.panels",
    "GranularConfig": "lucas_abm.granular",
    "run_granular": "lucas_abm.granular",
    "LucasMarketParallelEnv": "lucas_abm.pettingzoo_env",
}
__all__ = ["__version__", *_API]


def __getattr__(name: str):
    if name in _API:
        value = getattr(importlib.import_module(_API[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'lucas_abm' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_API))
