"""The learners' settings (the ``learner:`` section of a training config).

Validated when built, like every section of :mod:`orchestrator.config` (which re-exports
:class:`LearnerConfig`); the cross-section checks (a rule that needs a population, a Markov
dividend or schedules) are :class:`orchestrator.config.TrainConfig`'s.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from lucas_abm.errors import ConfigError, check_choice, check_int, check_range
from replay.signature import ACTION_DTYPES

WEIGHT_SHARING = ("independent", "shared")
ALGORITHMS = tuple(ACTION_DTYPES)      # dqn, td3, sac, adaptive: orchestrator.algorithms.RULES
REWARD_SHAPING = ("endowment", "autarky", "autarky-markov")
BOND_PRICE_ESTIMATES = ("mean", "median")   # adaptive valuers' q_hat: orchestrator.learners.adaptive
ACTION_NOISE = ("gaussian", "epsilon-local")   # td3 acting noise (orchestrator.learners.rules)
MAX_LAYER_WIDTH = 65_536   # units per hidden layer: wider layers do not fit in memory as K copies
MAX_AFTERSTATES = 10_000   # afterstate values per sample (each is a forward pass of the batch)
# Loss and reward scales enter float32 training (rewards r~ are normalised to O(1)): 1e308
# overflowed to inf and the loss to nan.
MAX_SCALE = 1e6


@dataclass
class LearnerConfig:
    """Per-agent learners (thesis: Q-networks 4 x 50 ReLU, Adam 1e-3).

    ``algorithm``: dqn (n-step double DQN on the price grid, the thesis), td3 or sac (actor
    and twin critics, continuous prices; orchestrator.learners), or adaptive (valuers who
    learn the dividend law and bond prices; orchestrator.learners.adaptive). The last six keys are TD3's
    (orchestrator.learners.td3.TD3Hyperparameters); the other rules ignore them.
    ``afterstate_tree_values``, ``afterstate_bond_values`` (dqn, the financed schedules market):
    K tree (bond) values per sample trained on the same draw with their own one-step targets
    (orchestrator.learners.afterstates). ``bond_price_estimate`` (adaptive): the bond prices
    the valuers roll a position over at, the prior-weighted mean or median of the clearing
    prices seen in each state (orchestrator.learners.adaptive).
    """

    algorithm: str = "dqn"                # dqn | td3 | sac | adaptive
    weight_sharing: str = "independent"   # independent: one network per agent; shared: per type
    agent_types: int = 1                  # shared mode: number of types (contiguous equal blocks)
    hidden: list = field(default_factory=lambda: [50, 50, 50, 50])
    learning_rate: float = 1e-3
    final_learning_rate: float | None = None   # decays linearly to this by the end of training
    n_step: int = 3
    batch_size: int = 32                  # n-step windows per update (each holds every agent)
    target_update_tau: float = 0.01
    huber_delta: float = 1.0
    update_every: int = 2                 # market steps per gradient step
    reward_shaping: str = "endowment"     # endowment | autarky | autarky-markov (orchestrator/agents.py)
    reward_scale: float = 1.0             # multiplies the learners' reward r~ (its unit is R / this)
    reward_clip: float | None = None      # clip the scaled reward to [-c, c] (None: no clip; Features)
    policy_delay: int = 2                 # td3: critic updates per actor and target update
    target_noise: float = 0.2             # td3: sigma~ of the target-policy smoothing, action units
    target_noise_clip: float = 0.5        # td3: its clip c
    preactivation_penalty: float = 1e-3   # td3: lambda |u|^2 keeps the actor off tanh's flat tails
    exploration_floor_ticks: float = 0.0  # td3: acting noise of each price at least this many ticks
    action_noise: str = "gaussian"        # td3: gaussian (published) | epsilon-local (the Q-learners')
    holdings_unit_lots: float = 10.0      # observation unit of holdings and income, in lots
    state_networks: bool = False          # dqn, Markov chain: one network per dividend state (networks.py)
    afterstate_tree_values: int = 0       # dqn, financed schedules: K tree afterstates per sample (0: off)
    afterstate_bond_values: int = 0       # dqn, financed schedules: K bond afterstates per sample (0: off)
    afterstate_spread: float = 0.0        # their values: posted +- N(0, spread^2) ticks (0: uniform on the grid)
    bond_price_estimate: str = "mean"     # adaptive: q_hat the mean or the median of the bond prices seen

    def __post_init__(self) -> None:
        check_choice("learner.algorithm", self.algorithm, ALGORITHMS)
        check_choice("learner.weight_sharing", self.weight_sharing, WEIGHT_SHARING)
        self.agent_types = check_int("learner.agent_types", self.agent_types, 1)
        if not isinstance(self.hidden, (list, tuple)) or not self.hidden:
            raise ConfigError("learner.hidden", "a non-empty list of layer widths", self.hidden)
        self.hidden = [check_int("learner.hidden", h, 1, MAX_LAYER_WIDTH) for h in self.hidden]
        self.learning_rate = check_range("learner.learning_rate", self.learning_rate, 0.0, 1.0)
        if self.final_learning_rate is not None:
            self.final_learning_rate = check_range("learner.final_learning_rate", self.final_learning_rate,
                                                   0.0, self.learning_rate, high_open=False)
        self.n_step = check_int("learner.n_step", self.n_step, 1)
        self.batch_size = check_int("learner.batch_size", self.batch_size, 1)
        self.target_update_tau = check_range("learner.target_update_tau", self.target_update_tau, 0.0, 1.0,
                                             high_open=False)
        self.huber_delta = check_range("learner.huber_delta", self.huber_delta, 0.0, MAX_SCALE,
                                       high_open=False)
        self.update_every = check_int("learner.update_every", self.update_every, 1)
        check_choice("learner.reward_shaping", self.reward_shaping, REWARD_SHAPING)
        self.reward_scale = check_range("learner.reward_scale", self.reward_scale, 0.0, MAX_SCALE,
                                        high_open=False)
        if self.reward_clip is not None:
            self.reward_clip = check_range("learner.reward_clip", self.reward_clip, 0.0, None)
        self.policy_delay = check_int("learner.policy_delay", self.policy_delay, 1, 10 ** 6)
        self.target_noise = check_range("learner.target_noise", self.target_noise, 0.0, MAX_SCALE,
                                        low_open=False, high_open=False)
        self.target_noise_clip = check_range("learner.target_noise_clip", self.target_noise_clip, 0.0, None,
                                             low_open=False)
        self.preactivation_penalty = check_range("learner.preactivation_penalty", self.preactivation_penalty,
                                                 0.0, MAX_SCALE, low_open=False, high_open=False)
        self.exploration_floor_ticks = check_range("learner.exploration_floor_ticks",
                                                   self.exploration_floor_ticks, 0.0, None, low_open=False)
        check_choice("learner.action_noise", self.action_noise, ACTION_NOISE)
        self.holdings_unit_lots = check_range("learner.holdings_unit_lots", self.holdings_unit_lots,
                                              0.0, None)
        if not isinstance(self.state_networks, bool):
            raise ConfigError("learner.state_networks", "true or false", self.state_networks)
        self.state_networks = bool(self.state_networks)
        if self.state_networks and self.algorithm != "dqn":
            raise ConfigError("learner.state_networks", f"false unless learner.algorithm is dqn "
                              f"(algorithm: {self.algorithm})", self.state_networks)
        self.afterstate_tree_values = check_int("learner.afterstate_tree_values",
                                                self.afterstate_tree_values, 0, MAX_AFTERSTATES)
        self.afterstate_bond_values = check_int("learner.afterstate_bond_values",
                                                self.afterstate_bond_values, 0, MAX_AFTERSTATES)
        self.afterstate_spread = check_range("learner.afterstate_spread", self.afterstate_spread, 0.0, None,
                                             low_open=False)
        check_choice("learner.bond_price_estimate", self.bond_price_estimate, BOND_PRICE_ESTIMATES)
        if self.bond_price_estimate != "mean" and self.algorithm != "adaptive":
            raise ConfigError("learner.bond_price_estimate", f"mean (the default) unless learner.algorithm is "
                              f"adaptive (algorithm: {self.algorithm})", self.bond_price_estimate)
