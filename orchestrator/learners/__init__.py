"""Actor-critic learners: every agent's actor and twin critics trained as one batched ensemble.

- :mod:`orchestrator.learners.ensemble`: stacked-weight MLPs (``[*members, fan_in, fan_out]``).
- :mod:`orchestrator.learners.actions`: actions in [-1, 1]^k <-> posted prices (one affine map).
- :mod:`orchestrator.learners.layout`: agents <-> weight-group slots (types of any counts).
- :mod:`orchestrator.learners.base`: n-step returns, optimizers and the interface the driver calls.
- :mod:`orchestrator.learners.td3`: TD3 (clipped double Q, target smoothing, delayed actor).
- :mod:`orchestrator.learners.sac`: SAC (tanh-Gaussian actor, twin critics, learned temperature).

The Q-learners are :mod:`orchestrator.dqn` and :mod:`orchestrator.networks`.
"""
