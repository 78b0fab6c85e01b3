"""Training configuration: YAML files in ``configs/`` mapped onto dataclasses.

A config file has one section per dataclass (``economy``, ``market``, ``actions``, ``learner``,
``exploration``, ``replay``, ``training``; those of ``market``, ``actions``, ``learner`` and
``replay`` live beside the code they configure and are re-exported here). Every value is validated when the
dataclass is built, before any work starts; an unknown key or an out-of-range value raises
:class:`~lucas_abm.errors.ConfigError` naming the key (``learner.n_step: must be ...``).
``--set section.key=value`` overrides a value (the value is parsed as YAML). Reading a file and
applying overrides is :mod:`orchestrator.config_loading` (``load_config``, also importable here).
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field


from lucas_abm.dividend_params import PARAMETERS, dividend_from_params, process_arguments
from lucas_abm.errors import ConfigError, check_choice, check_int, check_range
from lucas_abm.guards import (check_lots, check_population_utility_finite, check_price_grid,
                              check_prices_over_range, check_utility_finite)
from lucas_abm.market import MarketConfig
from lucas_abm.mechanisms import build_mechanism
from lucas_abm.solver import EquilibriumPrices, solve_equilibrium
from orchestrator.action_config import ActionGridConfig
from orchestrator.learner_config import ALGORITHMS, LearnerConfig  # noqa: F401 (ALGORITHMS re-exported)
from replay.tables import ReplayConfig

DIVIDENDS = ("constant", "iid-lognormal", "markov", "log-ar1")


@dataclass
class EconomyConfig:
    """Preferences, the dividend law and the market mechanism (docs/model.md §1–2).

    ``dividend_params`` take the keys of :data:`lucas_abm.dividend_params.PARAMETERS`, the same as
    ``lucas-abm solve`` and ``simulate`` (e.g. ``iid-lognormal`` with ``ybar`` or ``mu``, and
    ``sigma``); they are stored resolved into the law's own parameters (``ybar`` becomes
    ``mu``). ``mechanism`` is a built-in name or an import path ``module:ClassName`` of a
    ``Mechanism`` subclass (the working directory is searched too); ``mechanism_params`` go to
    its constructor and are checked against its signature here, before any work.
    """

    beta: float = 0.95                     # discount factor, in (0, 1)
    gamma: float = 1.0                     # CRRA risk aversion, > 0 (1 = log utility)
    dividend: str = "constant"             # constant | iid-lognormal | markov | log-ar1
    dividend_params: dict = field(default_factory=dict)   # e.g. {ybar: 0.0448168907}
    mechanism: str = "pairwise"            # pairwise | bargaining | call-auction | module:Class
    mechanism_params: dict = field(default_factory=dict)  # e.g. {theta: 0.5}

    def __post_init__(self) -> None:
        self.beta = check_range("economy.beta", self.beta, 0.0, 1.0)
        self.gamma = check_range("economy.gamma", self.gamma, 0.0, None)
        check_choice("economy.dividend", self.dividend, DIVIDENDS)
        for name in ("dividend_params", "mechanism_params"):
            if not isinstance(getattr(self, name), dict):
                raise ConfigError(f"economy.{name}", "a mapping of parameter names to values",
                                  getattr(self, name))
        self.dividend_params = process_arguments(self.dividend, self.dividend_params,
                                                 "economy.dividend_params")
        dividend_from_params(self.dividend, self.dividend_params, "economy.dividend_params")
        build_mechanism(self.mechanism, self.mechanism_params, field="economy.mechanism",
                        params_field="economy.mechanism_params")

    def equilibrium(self) -> EquilibriumPrices:
        """The equilibrium prices p(y), q(y) of this economy (lucas_abm.solver)."""
        return solve_equilibrium(dividend_from_params(self.dividend, self.dividend_params),
                                 self.beta, self.gamma)


@dataclass
class ExplorationConfig:
    """Epsilon-greedy exploration, mostly local.

    With probability epsilon an agent does not post its greedy price: with probability
    ``local_fraction`` it moves it by round(N(0, local_width)) grid steps (exploring where the
    decision is: just above or below the going price), otherwise it draws a uniform grid price.
    Epsilon decays linearly from ``epsilon_start`` to ``epsilon_end`` over the first
    ``decay_fraction`` of the training episodes. Evaluation episodes are greedy.

    Exploring starts (``start_tree_spread``, ``start_bond_spread``; default 0, off): each
    training episode starts every agent from holdings spread around its endowment, so that the
    learners see how their values depend on their own holdings (orchestrator/starts.py).
    Evaluation episodes start from the endowment.
    """

    epsilon_start: float = 1.0
    epsilon_end: float = 0.1
    decay_fraction: float = 0.5
    local_fraction: float = 0.8
    local_width: float = 3.0
    start_tree_spread: float = 0.0   # s_i = s0_i (1 + sigma_s (z_i - zbar)), z ~ U[-1, 1]
    start_bond_spread: float = 0.0   # b_i = sigma_b L_i (z'_i - zbar'), L_i the borrowing limit

    def __post_init__(self) -> None:
        for name in ("epsilon_start", "epsilon_end", "local_fraction"):
            setattr(self, name, check_range(f"exploration.{name}", getattr(self, name), 0.0, 1.0,
                                            low_open=False, high_open=False))
        self.decay_fraction = check_range("exploration.decay_fraction", self.decay_fraction, 0.0, 1.0,
                                          high_open=False)
        self.local_width = check_range("exploration.local_width", self.local_width, 0.0, 1e6,
                                       high_open=False)   # grid steps
        for name in ("start_tree_spread", "start_bond_spread"):   # |z - zbar| <= 2: feasible up to 0.5
            setattr(self, name, check_range(f"exploration.{name}", getattr(self, name), 0.0, 0.5,
                                            low_open=False, high_open=False))

    def epsilon(self, episode: int, episodes: int) -> float:
        frac = min(1.0, episode / max(1.0, self.decay_fraction * episodes))
        return self.epsilon_start + frac * (self.epsilon_end - self.epsilon_start)


TOLERANCES = ("tree_tolerance", "bond_tolerance", "volume_tolerance", "tracking_tolerance",
              "share_tolerance", "bond_position_tolerance")   # TrainingConfig's convergence criteria


@dataclass
class TrainingConfig:
    """Length of training, evaluation, checkpoints and the convergence criteria.

    The criteria (orchestrator.evaluator.criteria_met) ask for prices within ``tree_tolerance``
    and ``bond_tolerance`` of the equilibrium's and, where the equilibrium has no trade
    (identical agents), for volumes at most ``volume_tolerance``. For a population whose
    equilibrium holds bonds (heterogeneous risk aversion: the bond is rolled over every period,
    so it trades every period) the volume criterion is replaced by each type's holdings: tree
    shares within ``share_tolerance`` of its equilibrium shares per unit of supply, bonds within
    ``bond_position_tolerance`` (relative) of its equilibrium bonds."""

    episodes: int = 1000
    eval_interval: int = 10               # a greedy evaluation episode every this many episodes
    checkpoint_interval: int = 10         # episodes between checkpoints
    seed: int = 0
    tree_tolerance: float = 0.02          # |median posted tree price / p* - 1|
    bond_tolerance: float = 0.01          # |median posted bond price / q* - 1|
    volume_tolerance: float = 0.005       # lots per agent per step, each asset
    tracking_tolerance: float = 0.03      # stochastic dividends: mean |p_k/p(y_t) - 1|
    share_tolerance: float = 0.01         # populations whose equilibrium trades: |type shares - s_k|
    bond_position_tolerance: float = 0.2  # ... and |type bonds / b_k - 1|
    stop_after_converged_evals: int = 0   # stop once converged for this many evaluations in a row (0: never)

    def __post_init__(self) -> None:
        self.episodes = check_int("training.episodes", self.episodes, 1, 10 ** 9)
        self.eval_interval = check_int("training.eval_interval", self.eval_interval, 1)
        self.checkpoint_interval = check_int("training.checkpoint_interval", self.checkpoint_interval, 1)
        self.seed = check_int("training.seed", self.seed, 0)
        for name in TOLERANCES:
            setattr(self, name, check_range(f"training.{name}", getattr(self, name), 0.0, None))
        self.stop_after_converged_evals = check_int("training.stop_after_converged_evals",
                                               self.stop_after_converged_evals, 0)


SECTIONS = {
    "economy": EconomyConfig,
    "market": MarketConfig,
    "actions": ActionGridConfig,
    "learner": LearnerConfig,
    "exploration": ExplorationConfig,
    "replay": ReplayConfig,
    "training": TrainingConfig,
}


@dataclass
class TrainConfig:
    economy: EconomyConfig = field(default_factory=EconomyConfig)
    market: MarketConfig = field(default_factory=MarketConfig)
    actions: ActionGridConfig = field(default_factory=ActionGridConfig)
    learner: LearnerConfig = field(default_factory=LearnerConfig)
    exploration: ExplorationConfig = field(default_factory=ExplorationConfig)
    replay: ReplayConfig = field(default_factory=ReplayConfig)
    training: TrainingConfig = field(default_factory=TrainingConfig)
    population: list | None = None   # agent types (lucas_abm/population.py); None: identical agents

    def __post_init__(self) -> None:
        self._population = None
        if self.population is not None:   # orchestrator/population.py: checks against the sections
            from orchestrator.population import parse_training_population
            self._population = parse_training_population(self.population, self.economy, self.market,
                                                         self.learner, self.training)
        elif self.learner.weight_sharing == "shared" and self.market.n_agents % self.learner.agent_types:
            raise ConfigError("learner.agent_types", f"a divisor of market.n_agents ({self.market.n_agents})",
                              self.learner.agent_types)
        if self.learner.reward_shaping == "autarky-markov" and self.economy.dividend != "markov":
            raise ConfigError("learner.reward_shaping", "endowment or autarky unless economy.dividend is "
                              f"markov (autarky-markov takes the chain's expectation; dividend: "
                              f"{self.economy.dividend})", self.learner.reward_shaping)
        if self.learner.state_networks and self.economy.dividend != "markov":
            raise ConfigError("learner.state_networks", "false unless economy.dividend is markov (one "
                              f"network per state of a finite chain; dividend: {self.economy.dividend})",
                              self.learner.state_networks)
        if self.replay.capacity < self.learner.batch_size:
            raise ConfigError("replay.capacity", f">= learner.batch_size ({self.learner.batch_size})",
                              self.replay.capacity)
        if self.market.horizon <= self.learner.n_step:
            raise ConfigError("market.horizon", f"> learner.n_step ({self.learner.n_step})",
                              self.market.horizon)
        # the economics: the grid contains p(y), q(y); one lot is tradable (lucas_abm.guards)
        try:
            prices = self.economy.equilibrium()
            check_prices_over_range(prices)
        except ConfigError as err:
            raise _in_economy(err, self.economy.dividend) from None
        a, m = self.actions, self.market
        check_price_grid(prices, {"tree": (a.tree_low, a.tree_high), "bond": (a.bond_low, a.bond_high)},
                         m.max_price)
        check_lots(prices, m.tree_lot, m.bond_lot, m.initial_shares, m.borrowing_limit)
        if self._population is None:
            check_utility_finite(prices, m.initial_shares)
        else:                                  # each agent its own gamma and initial shares
            from orchestrator.population import draw
            check_population_utility_finite(prices.dividend, draw(self), self._population,
                                            default_field="economy.gamma")
        mechanism = build_mechanism(self.economy.mechanism, self.economy.mechanism_params)
        if a.tree_positions is not None:
            from lucas_abm.mechanisms.orders import OrderMechanism

            if not isinstance(mechanism, OrderMechanism) or self.learner.algorithm != "dqn":
                raise ConfigError("actions.tree_positions", "absent unless economy.mechanism takes orders "
                                  "(call-auction) and learner.algorithm is dqn", a.tree_positions)
        if self.learner.algorithm == "adaptive":
            from orchestrator.learners.adaptive import check_adaptive

            check_adaptive(self)
        if getattr(mechanism, "tree_settlement", "cash") != "cash" and a.tree_schedule_slope is None:
            raise ConfigError("economy.mechanism_params.tree_settlement", "'cash' unless the actions are "
                              "demand schedules (actions.tree_schedule_slope)",
                              self.economy.mechanism_params["tree_settlement"])
        afterstates = self.learner.afterstate_tree_values or self.learner.afterstate_bond_values
        if afterstates and not (
                self.learner.algorithm == "dqn" and getattr(mechanism, "tree_settlement", "cash") == "bonds"
                and getattr(mechanism, "financed_fraction", 1.0) == 1.0 and m.public_information):
            key = "afterstate_tree_values" if self.learner.afterstate_tree_values else "afterstate_bond_values"
            raise ConfigError(f"learner.{key}", "0 unless learner.algorithm is dqn, "
                              "economy.mechanism_params.tree_settlement is bonds (fully financed) and "
                              "market.public_information is true (orchestrator/learners/afterstates.py)",
                              getattr(self.learner, key))
        if a.tree_schedule_slope is not None and not hasattr(mechanism, "execute_schedules"):
            raise ConfigError("actions.tree_schedule_slope", "absent unless economy.mechanism "
                              "clears schedules (call-auction)", a.tree_schedule_slope)

    @property
    def groups(self) -> int:
        """Number of separate weight sets in the ensemble."""
        if self.learner.weight_sharing == "independent":
            return self.market.n_agents
        if self._population is not None:
            return len(self._population.types)
        return self.learner.agent_types

    @property
    def population_types(self):
        """The parsed ``population:`` (a lucas_abm.population.Population), None for identical agents."""
        return self._population

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        if d["population"] is None:   # identical-agent configs are saved as before
            del d["population"]
            for key in ("share_tolerance", "bond_position_tolerance"):   # populations' criteria
                if d["training"][key] == getattr(TrainingConfig, key):
                    del d["training"][key]
        for key in ("tree_positions", "bond_positions", "tree_schedule_slope",
                    "bond_schedule_slope"):   # posted prices: saved as before
            if d["actions"][key] is None:
                del d["actions"][key]
        if d["actions"]["price_basis"] == "rbf":   # the default: saved as before
            del d["actions"]["price_basis"]
        return d


#: Seconds a role of the multi-process layout waits for a peer (the replay server, the first
#: weights) before it exits with code 4 naming the peer (``--peer-timeout``; orchestrator.roles).
PEER_TIMEOUT_S = 60.0


def check_shard_count(n_agents: int, shards: int) -> None:
    """``--shards`` S: each of the S learner shards owns at least one of the N agents."""
    if not 1 <= shards <= n_agents:
        raise ConfigError("--shards", f"an integer in [1, market.n_agents = {n_agents}]", shards)


def _in_economy(err: ConfigError, dividend: str) -> ConfigError:
    """The solver names bare parameters (``ybar``, ``gamma``, ``states``); in a config they
    are ``economy.gamma`` and ``economy.dividend_params.ybar``."""
    if "." in err.field:
        return err
    if err.field in ("beta", "gamma"):
        field = f"economy.{err.field}"
    elif err.field in PARAMETERS.get(dividend, ()):
        field = f"economy.dividend_params.{err.field}"
    else:
        return err
    return ConfigError(field, err.allowed, err.got, detail=err.detail)


def __getattr__(name: str):
    """``load_config``, ``apply_overrides`` and ``config_from_dict`` live in
    :mod:`orchestrator.config_loading` (reading and overriding a config is a job of its own);
    they are importable from here too, as they always were."""
    if name in ("load_config", "apply_overrides", "config_from_dict"):
        from orchestrator import config_loading

        return getattr(config_loading, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
