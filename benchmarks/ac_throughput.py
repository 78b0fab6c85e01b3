"""Actor-critic throughput: the batched TD3 ensemble against N separate TF-Agents Td3Agents.

Both learners are fed the same transitions (x_t, a_t, r_t, x_{t+1}) and make the same TD3
update for every agent k (Fujimoto et al., 2018; ``orchestrator/learners/td3.py``):

    y    = r^k_t + beta min_j Q'_j(x^k_{t+1}, mu'(x^k_{t+1}) + clip(eps, -0.5, 0.5)),  eps ~ N(0, 0.2^2)
    L_Q  = mean_batch sum_j huber(y - Q_j(x^k_t, a^k_t))          Adam(1e-3), every step
    L_mu = - mean_batch Q_1(x^k_t, mu(x^k_t))                    Adam(1e-3), every 2nd step
    targets <- 0.005 online + 0.995 targets                      every 2nd step

with an actor and two critics of 4 x 50 ReLU per agent (actor: tanh onto one
``BoundedTensorSpec`` of shape (2,) in [-1, 1]; critics: [x, a] -> 1), batch 64, beta 0.95.
The ensemble (``orchestrator.learners.td3.EnsembleTD3``, ``groups = N``) does this for all N
agents in one ``train_step``; the baseline is N ``tf_agents.agents.td3.td3_agent.Td3Agent``
objects (``ActorNetwork(fc_layer_params=(50,)*4)``, ``CriticNetwork(joint_fc_layer_params=
(50,)*4)``, ``actor_update_period = target_update_period = 2``, the default Huber TD loss),
each ``train`` wrapped in ``common.function``, called one after another in a Python loop.
Differences that do not change the work: TF-Agents does not clip the noisy target action back
into [-1, 1], evaluates the actor loss on every step (applying it every 2nd), and moves its
targets one step after its actor; the ensemble computes the actor loss only when it applies it.

``--algorithms td3,sac`` also times the SAC ensemble (``orchestrator.learners.sac.EnsembleSAC``:
tanh-Gaussian actor, twin critics and a temperature per agent, all three stepped every update,
critic targets every update) against N ``tf_agents.agents.sac.sac_agent.SacAgent``
(``ActorDistributionNetwork`` with ``TanhNormalProjectionNetwork(std_transform=
sac_agent.std_clip_transform)``, the same critics, Huber TD loss with weight 1, Adam 3e-4).

The unit of work is an **agent-update**: one training step of one agent's actor-critic (its
critics always, its actor every 2nd step) on a batch of ``--batch`` transitions.
agent-updates/s = (agents updated) x (training steps) / seconds; steps are timed in even
numbers so that both sides do the same number of actor updates.

Baseline size. Building and tracing one Td3Agent takes about 3 s and they do not interact,
so ``--baseline-agents K`` real agents (default 20) are timed and their per-agent cost is
extrapolated linearly to N (the output says so). With K >= N all N agents are real.

Timing, as in ``learner_throughput.py``: every learner is warmed up first (tracing excluded);
the methods then take turns one training step at a time for ``--repeats`` blocks of
``--steps`` steps; the median over blocks of the mean seconds per step is reported, in wall
time and in this process's CPU time.

    .venv/bin/python benchmarks/ac_throughput.py --agents 100,1200 --algorithms td3,sac
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, NamedTuple, Sequence

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import tensorflow as tf  # noqa: E402
from tf_agents.agents.ddpg import actor_network, critic_network  # noqa: E402
from tf_agents.agents.sac import sac_agent, tanh_normal_projection_network  # noqa: E402
from tf_agents.agents.td3 import td3_agent  # noqa: E402
from tf_agents.networks import actor_distribution_network  # noqa: E402
from tf_agents.specs import tensor_spec  # noqa: E402
from tf_agents.trajectories import time_step as ts  # noqa: E402
from tf_agents.trajectories import trajectory  # noqa: E402
from tf_agents.utils import common  # noqa: E402

from _timing import interleaved, machine_info  # noqa: E402
from lucas_abm.errors import ConfigError, check_range  # noqa: E402
from orchestrator.learners.sac import EnsembleSAC, SACHyperparameters  # noqa: E402
from orchestrator.learners.td3 import EnsembleTD3, TD3Hyperparameters  # noqa: E402

DEFAULT_OUT = Path("runs/bench/ac_throughput.json")


@dataclass(frozen=True)
class BenchmarkConfig:
    """What is timed. Defaults: batch 64, 1-step TD3, beta 0.95, 4 x 50 ReLU actor and critics."""

    agents: tuple[int, ...] = (100, 1200)
    algorithms: tuple[str, ...] = ("td3",)   # td3, sac
    batch: int = 64                 # transitions per agent per update
    steps: int = 10                 # training steps per timed block (even: whole actor periods)
    repeats: int = 5                # timed blocks per method (median reported)
    warmup: int = 3                 # untimed steps after tracing
    baseline_agents: int = 20       # real Td3Agents timed (extrapolated to N beyond this)
    observation_dim: int = 4        # (shares, bonds, dividend, income): the market's private columns
    action_dim: int = 2             # (tree price, bond price)
    discount: float = 0.95
    policy_delay: int = 2
    target_noise: float = 0.2       # sigma~ of the target-policy noise, in action units
    data_batches: int = 4           # distinct data batches, cycled through
    seed: int = 0

    def __post_init__(self) -> None:
        if not self.agents or any(int(n) < 1 for n in self.agents):
            raise ConfigError("agents", "a comma-separated list of integers >= 1", self.agents)
        if not self.algorithms or any(a not in ALGORITHMS for a in self.algorithms):
            raise ConfigError("algorithms", "a comma-separated list of " + ", ".join(ALGORITHMS), self.algorithms)
        for name, low in (("batch", 1), ("steps", 2), ("repeats", 1), ("warmup", 0), ("baseline_agents", 1),
                          ("observation_dim", 1), ("action_dim", 1), ("policy_delay", 1), ("data_batches", 1)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise ConfigError(name, f"an integer >= {low}", value)
        if self.steps % self.policy_delay:
            raise ConfigError("steps", f"a multiple of policy_delay ({self.policy_delay})", self.steps)
        check_range("discount", self.discount, 0.0, 1.0)
        check_range("target_noise", self.target_noise, 0.0, None, low_open=False)

    @property
    def hyperparameters(self) -> TD3Hyperparameters:
        return TD3Hyperparameters(discount=self.discount, n_step=1, actor_learning_rate=1e-3,
                                  critic_learning_rate=1e-3, target_update_tau=0.005,
                                  policy_delay=self.policy_delay, target_noise=self.target_noise, target_noise_clip=0.5,
                                  huber_delta=1.0, hidden=(50, 50, 50, 50))


    @property
    def sac_hyperparameters(self) -> SACHyperparameters:
        return SACHyperparameters(discount=self.discount, n_step=1, target_update_tau=0.005, huber_delta=1.0,
                                  hidden=(50, 50, 50, 50))


class Transitions(NamedTuple):
    """One-step windows of all agents in the ensemble's layout: observation [B, 2, N, D],
    action [B, 1, N, k] in [-1, 1], reward [B, 1, N]."""

    observation: tf.Tensor
    action: tf.Tensor
    reward: tf.Tensor


def make_transitions(cfg: BenchmarkConfig, n_agents: int, rng: np.random.Generator) -> Transitions:
    """Synthetic, normalised transitions (inputs and rewards of order one); throughput does
    not depend on the values and both learners read the very same arrays."""
    b, d, k = cfg.batch, cfg.observation_dim, cfg.action_dim
    return Transitions(
        observation=tf.constant(rng.standard_normal((b, 2, n_agents, d)), tf.float32),
        action=tf.constant(rng.uniform(-0.9, 0.9, (b, 1, n_agents, k)), tf.float32),
        reward=tf.constant(rng.standard_normal((b, 1, n_agents)), tf.float32))


def agent_trajectory(data: Transitions, k: int) -> trajectory.Trajectory:
    """Agent k's transitions as a TF-Agents ``Trajectory`` [B, 2]: MID steps with discount 1
    (the time limit is a truncation); the last step's action and reward are padding."""
    obs = data.observation[:, :, k, :]
    b = obs.shape[0]
    action = tf.concat([data.action[:, :, k], tf.zeros_like(data.action[:, :, k])], axis=1)
    reward = tf.concat([data.reward[:, :, k], tf.zeros([b, 1])], axis=1)
    mid = tf.fill([b, 2], ts.StepType.MID)
    return trajectory.Trajectory(step_type=mid, observation=obs, action=action, policy_info=(),
                                 next_step_type=mid, reward=reward, discount=tf.ones([b, 2]))


def make_td3_agent(cfg: BenchmarkConfig, index: int, compile_train: bool = True) -> td3_agent.Td3Agent:
    """One TF-Agents TD3 agent with the ensemble's hyperparameters."""
    hp = cfg.hyperparameters
    observation_spec = tensor_spec.TensorSpec([cfg.observation_dim], tf.float32)
    action_spec = tensor_spec.BoundedTensorSpec([cfg.action_dim], tf.float32, -1.0, 1.0)
    actor = actor_network.ActorNetwork(observation_spec, action_spec, fc_layer_params=tuple(hp.hidden))
    critic = critic_network.CriticNetwork((observation_spec, action_spec),
                                          joint_fc_layer_params=tuple(hp.hidden))
    agent = td3_agent.Td3Agent(
        ts.time_step_spec(observation_spec), action_spec, actor_network=actor, critic_network=critic,
        actor_optimizer=tf.keras.optimizers.Adam(hp.actor_learning_rate),
        critic_optimizer=tf.keras.optimizers.Adam(hp.critic_learning_rate),
        exploration_noise_std=hp.exploration_noise, target_update_tau=hp.target_update_tau,
        target_update_period=hp.policy_delay, actor_update_period=hp.policy_delay,
        td_errors_loss_fn=common.element_wise_huber_loss, gamma=hp.discount,
        target_policy_noise=hp.target_noise, target_policy_noise_clip=hp.target_noise_clip,
        train_step_counter=tf.Variable(0, dtype=tf.int64), name=f"agent_{index}")
    agent.initialize()
    if compile_train:
        agent.train = common.function(agent.train)
    return agent


def make_sac_agent(cfg: BenchmarkConfig, index: int, compile_train: bool = True) -> sac_agent.SacAgent:
    """One TF-Agents SAC agent with the SAC ensemble's hyperparameters."""
    hp = cfg.sac_hyperparameters
    observation_spec = tensor_spec.TensorSpec([cfg.observation_dim], tf.float32)
    action_spec = tensor_spec.BoundedTensorSpec([cfg.action_dim], tf.float32, -1.0, 1.0)

    def projection(spec):
        return tanh_normal_projection_network.TanhNormalProjectionNetwork(
            spec, std_transform=sac_agent.std_clip_transform)

    actor = actor_distribution_network.ActorDistributionNetwork(
        observation_spec, action_spec, fc_layer_params=tuple(hp.hidden), continuous_projection_net=projection)
    critic = critic_network.CriticNetwork((observation_spec, action_spec),
                                          joint_fc_layer_params=tuple(hp.hidden))
    agent = sac_agent.SacAgent(
        ts.time_step_spec(observation_spec), action_spec, critic_network=critic, actor_network=actor,
        actor_optimizer=tf.keras.optimizers.Adam(hp.actor_learning_rate),
        critic_optimizer=tf.keras.optimizers.Adam(hp.critic_learning_rate),
        alpha_optimizer=tf.keras.optimizers.Adam(hp.alpha_learning_rate),
        critic_loss_weight=1.0, target_update_tau=hp.target_update_tau, target_update_period=1,
        td_errors_loss_fn=common.element_wise_huber_loss, gamma=hp.discount,
        train_step_counter=tf.Variable(0, dtype=tf.int64), name=f"sac_agent_{index}")
    agent.initialize()
    if compile_train:
        agent.train = common.function(agent.train)
    return agent


def make_ensemble(cfg: BenchmarkConfig, algorithm: str, n_agents: int):
    if algorithm == "sac":
        return EnsembleSAC(n_agents, n_agents, cfg.observation_dim, cfg.action_dim, cfg.sac_hyperparameters,
                           seed=cfg.seed)
    return EnsembleTD3(n_agents, n_agents, cfg.observation_dim, cfg.action_dim, cfg.hyperparameters, seed=cfg.seed)


ALGORITHMS = {"td3": make_td3_agent, "sac": make_sac_agent}
AGENT_CLASS = {"td3": "Td3Agents", "sac": "SacAgents"}


def ensemble_step(ensemble: EnsembleTD3, data: Sequence[Transitions]) -> Callable[[int], None]:
    def step(i: int) -> None:
        ensemble.train_step(*data[i % len(data)]).loss.numpy()   # wait for the result
    return step


def separate_step(agents: Sequence[td3_agent.Td3Agent],
                  experience: Sequence[Sequence[trajectory.Trajectory]]) -> Callable[[int], None]:
    """One training step of N separate agents: a Python loop of N ``agent.train`` calls."""
    def step(i: int) -> None:
        info = None
        for agent, traj in zip(agents, experience[i % len(experience)]):
            info = agent.train(traj)
        info.loss.numpy()
    return step


def time_algorithm(cfg: BenchmarkConfig, algorithm: str, rng: np.random.Generator,
                   log: Callable[[str], None]) -> dict:
    """Time one algorithm's ensemble against its separate TF-Agents agents at every N."""
    n_real = min(cfg.baseline_agents, max(cfg.agents))
    log(f"{algorithm}: building {n_real} TF-Agents {AGENT_CLASS[algorithm]} ...")
    t0 = time.perf_counter()
    agents = [ALGORITHMS[algorithm](cfg, k) for k in range(n_real)]
    build_s = time.perf_counter() - t0
    results = []
    for n_agents in cfg.agents:
        data = [make_transitions(cfg, n_agents, rng) for _ in range(cfg.data_batches)]
        k_real = min(n_real, n_agents)
        experience = [[agent_trajectory(d, k) for k in range(k_real)] for d in data]
        ensemble = make_ensemble(cfg, algorithm, n_agents)
        methods = {"ensemble": ensemble_step(ensemble, data), "separate": separate_step(agents[:k_real], experience)}
        log(f"{algorithm}, N = {n_agents}: tracing and warming up, then {cfg.repeats} x {cfg.steps} steps per method ...")
        t0 = time.perf_counter()

        def trace_counts() -> dict[str, int]:
            return {"ensemble": ensemble.train_step.experimental_get_tracing_count(),
                    "separate_total": sum(a.train.experimental_get_tracing_count() for a in agents[:k_real])}

        warm: dict[str, int] = {}
        seconds, cpu_seconds = interleaved(methods, cfg, after_warmup=lambda: warm.update(trace_counts()))
        log(f"  done in {time.perf_counter() - t0:.1f} s")
        traces = trace_counts()
        if traces != warm:
            log(f"  warning: tf.function retraced while timing: {warm} -> {traces}")
        ens, ens_cpu = statistics.median(seconds["ensemble"]), statistics.median(cpu_seconds["ensemble"])
        per_agent = statistics.median(seconds["separate"]) / k_real
        per_agent_cpu = statistics.median(cpu_seconds["separate"]) / k_real
        results.append({
            "n_agents": n_agents,
            "ensemble": {"step_seconds_median": ens, "step_seconds": seconds["ensemble"],
                         "training_steps_per_s": 1.0 / ens, "agent_updates_per_s": n_agents / ens,
                         "cpu_seconds_per_step_median": ens_cpu, "agent_updates_per_cpu_s": n_agents / ens_cpu},
            "separate": {"real_agents": k_real, "extrapolated": k_real < n_agents,
                         "loop_seconds": seconds["separate"], "seconds_per_agent_update": per_agent,
                         "step_seconds_median": per_agent * n_agents,
                         "training_steps_per_s": 1.0 / (per_agent * n_agents),
                         "agent_updates_per_s": 1.0 / per_agent,
                         "cpu_seconds_per_agent_update": per_agent_cpu,
                         "agent_updates_per_cpu_s": 1.0 / per_agent_cpu},
            "tracing_counts_after_warmup": warm, "tracing_counts_after_timing": traces,
            "speedup": per_agent * n_agents / ens,
            "speedup_cpu_time": per_agent_cpu * n_agents / ens_cpu,
            "speedup_per_block": [(s / k_real * n_agents) / e for s, e in zip(seconds["separate"], seconds["ensemble"])],
        })
    return {"baseline_build_seconds_per_agent": build_s / n_real, "results": results}


def run(cfg: BenchmarkConfig, log: Callable[[str], None] = print) -> dict:
    """Time every algorithm at every N in ``cfg.agents``; returns the JSON-ready result."""
    tf.get_logger().setLevel("ERROR")   # each agent's first trace is not a retrace; counted below
    load_at_start = list(os.getloadavg())
    rng = np.random.default_rng(cfg.seed)
    tf.random.set_seed(cfg.seed)
    algorithms = {name: time_algorithm(cfg, name, rng, log) for name in cfg.algorithms}
    machine = machine_info()
    machine["load_average_1_5_15min"] = {"start": load_at_start, "end": list(os.getloadavg())}
    return {"benchmark": "ac_throughput", "config": asdict(cfg), "machine": machine, "algorithms": algorithms}


def format_table(result: dict) -> str:
    cfg, machine = result["config"], result["machine"]
    lines = [f"actor-critic throughput: batch {cfg['batch']} transitions/agent, actor and twin critics "
             f"4 x 50 ReLU (TD3: actor every {cfg['policy_delay']} steps); median of {cfg['repeats']} blocks x "
             f"{cfg['steps']} steps; device {machine['device']}, {machine['cores_available']} cores",
             f"{'N':>6} {'method':<36} {'s/step':>9} {'steps/s':>9} {'agent-updates/s':>16} {'speedup':>8}"]
    notes = []
    for algorithm, timed in result["algorithms"].items():
        for row in timed["results"]:
            n, ens, sep = row["n_agents"], row["ensemble"], row["separate"]
            label = f"{sep['real_agents']} separate {AGENT_CLASS[algorithm]}"
            if sep["extrapolated"]:
                label += f" (x{n / sep['real_agents']:.0f} extrap.)"
            lines.append(f"{n:>6} {label:<36} {sep['step_seconds_median']:>9.4f} "
                         f"{sep['training_steps_per_s']:>9.3f} {sep['agent_updates_per_s']:>16,.0f} {'1.0':>8}")
            lines.append(f"{n:>6} {algorithm.upper() + ' ensemble (groups = N)':<36} "
                         f"{ens['step_seconds_median']:>9.4f} {ens['training_steps_per_s']:>9.3f} "
                         f"{ens['agent_updates_per_s']:>16,.0f} {row['speedup']:>8.1f}")
            sp = row["speedup_per_block"]
            notes.append(f"{algorithm}, N = {n}: agent-updates per CPU-second: separate "
                         f"{sep['agent_updates_per_cpu_s']:,.0f}, ensemble {ens['agent_updates_per_cpu_s']:,.0f} "
                         f"(speedup in CPU time {row['speedup_cpu_time']:.1f}); speedup per block "
                         f"{min(sp):.1f} .. {max(sp):.1f}"
                         + (f"; separate-agent time extrapolated linearly from {sep['real_agents']} real agents"
                            if sep["extrapolated"] else ""))
        notes.append(f"{algorithm}: building one agent took {timed['baseline_build_seconds_per_agent']:.1f} s")
    load = machine["load_average_1_5_15min"]
    lines.append(f"load average (1 min) {load['start'][0]:.1f} at start, {load['end'][0]:.1f} at end")
    return "\n".join(lines + notes)


def parse_args(argv: Sequence[str] | None = None) -> tuple[BenchmarkConfig, Path]:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--agents", default="100,1200", help="comma-separated numbers of agents N")
    p.add_argument("--algorithms", default="td3", help="comma-separated: td3, sac")
    p.add_argument("--batch", type=int, default=64, help="transitions per agent per update")
    p.add_argument("--steps", type=int, default=10, help="training steps per timed block (a multiple of 2)")
    p.add_argument("--repeats", type=int, default=5, help="timed blocks per method (median reported)")
    p.add_argument("--warmup", type=int, default=3, help="untimed steps after tracing")
    p.add_argument("--baseline-agents", type=int, default=20,
                   help="real Td3Agents to time; beyond this their cost is extrapolated linearly to N")
    p.add_argument("--seed", type=int, default=0, help="seed of the data and the weights")
    p.add_argument("--json", type=Path, default=DEFAULT_OUT, help="write the numbers and machine info here")
    p.add_argument("--quick", action="store_true", help="smoke run: N = 10,50, 3 real agents, 2 x 2 steps")
    a = p.parse_args(argv)
    try:
        agents = tuple(int(s) for s in str(a.agents).split(",") if s.strip())
    except ValueError:
        raise ConfigError("agents", "a comma-separated list of integers >= 1", a.agents) from None
    algorithms = tuple(s.strip() for s in str(a.algorithms).split(",") if s.strip())
    if a.quick:
        cfg = BenchmarkConfig(agents=(10, 50), algorithms=algorithms, batch=a.batch, steps=2, repeats=2, warmup=1, baseline_agents=3,
                              data_batches=2, seed=a.seed)
    else:
        cfg = BenchmarkConfig(agents=agents, algorithms=algorithms, batch=a.batch, steps=a.steps, repeats=a.repeats, warmup=a.warmup,
                              baseline_agents=a.baseline_agents, seed=a.seed)
    return cfg, a.json


def main(argv: Sequence[str] | None = None) -> int:
    try:
        cfg, json_path = parse_args(argv)
    except ConfigError as err:
        print(f"ac_throughput: error: {err}", file=sys.stderr)
        return 2
    result = run(cfg)
    print(format_table(result))
    json_path.parent.mkdir(parents=True, exist_ok=True)
    json_path.write_text(json.dumps(result, indent=2))
    print(f"wrote {json_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
