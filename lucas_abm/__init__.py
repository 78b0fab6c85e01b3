"""lucas-abm: the Lucas (1978) tree economy as an agent-based market of deep-RL traders.

Economics lives here (dividends, utility, the equilibrium solver, market mechanisms,
the market environment, scripted agents); the training loop lives in ``orchestrator``
and experience replay in ``replay``.
"""
__version__ = "0.1.0"
