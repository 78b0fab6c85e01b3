"""Learner throughput: the batched Q-network ensemble against N separate TF-Agents DqnAgents.

Both learners are fed the same n-step windows (observations, actions, rewards) and make
the same update for every agent k:

    G_t = sum_{i<n} beta^i r^k_{t+i} + beta^n Q_target(x^k_{t+n}, argmax_a Q_online(x^k_{t+n}, a))
    L_k = mean_batch huber(G_t - Q_online(x^k_t, a^k_t)),    Adam(1e-3) on L_k,
    target <- tau * online + (1 - tau) * target               (tau = 0.01, every step)

with a 4 x 50 ReLU network per agent. The ensemble (``orchestrator.dqn.EnsembleDQN``,
``groups = N``) does this for all N agents in one batched call; the baseline is N
``tf_agents.agents.dqn.dqn_agent.DdqnAgent`` objects (double DQN, like the ensemble), each
with ``QNetwork(fc_layer_params=(50, 50, 50, 50))``, its ``train`` wrapped in
``common.function``, called one after another in a Python loop.

The unit of work is an **agent-update**: one gradient step of one agent's network on a
batch of ``--batch`` windows. agent-updates/s = (agents updated) x (training steps) / seconds.

Actions. A DqnAgent scores one discrete action. To compare like with like the ensemble is
built with ``n_tree = K`` tree prices and ``n_bond = 1`` (so its bond advantage is constant
and drops out): its head has 1 + K + 1 outputs against the QNetwork's K, the only difference
being the dueling value output. K defaults to 161, the project's tree-price grid
(0.40 .. 2.00 step 0.01). Flattening the joint tree x bond grid (161 x 61 = 9,821 actions)
into one DqnAgent action would give the baseline a 50 x 9,821 head the ensemble does not
have (its dueling heads are additive), so it is not done. The project's own action head
(161 x 61 prices through Gaussian bases every 4 grid points) is timed separately for the
thesis-scale steps/s.

Baseline size. Building and tracing 1,200 DqnAgents takes minutes and gigabytes, and they
do not interact, so ``--baseline-agents K`` real agents are timed and their per-agent cost
is extrapolated linearly to N (the output says so). With K >= N the N agents are all real.

Timing: every learner is warmed up first (tf.function tracing excluded); then the methods
take turns one training step at a time (so that load from other processes hits all alike)
for ``--repeats`` blocks of ``--steps`` steps, and the median over blocks of the mean
seconds per step is reported.

    .venv/bin/python benchmarks/learner_throughput.py --agents 100,1200   # writes runs/bench/learner_throughput.json
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

import tensorflow as tf  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))   # the helpers beside this script

from _tf_agents_baseline import agent_trajectory, make_dqn_agent, separate_step  # noqa: E402
from _timing import interleaved, machine_info  # noqa: E402
from lucas_abm.errors import ConfigError, check_range  # noqa: E402
from orchestrator.dqn import DQNHyperparameters, EnsembleDQN  # noqa: E402

PROJECT_TREE_PRICES = 161      # tree grid 0.40 .. 2.00, step 0.01 (orchestrator/config.py)
PROJECT_BOND_PRICES = 61       # bond grid 0.80 .. 1.10, step 0.005
PROJECT_BASIS_SPACING = 4      # Gaussian bumps every 4 grid points


@dataclass(frozen=True)
class BenchmarkConfig:
    """What is timed. Defaults: the thesis scale (batch 32, n = 3, beta = 0.95, 4 x 50 ReLU)."""

    agents: tuple[int, ...] = (100, 1200)
    batch: int = 32                 # n-step windows per agent per update
    steps: int = 10                 # training steps per timed block
    repeats: int = 5                # timed blocks per method (median reported)
    warmup: int = 3                 # untimed steps after tracing
    baseline_agents: int = 100      # real DqnAgents timed (extrapolated to N beyond this)
    n_actions: int = PROJECT_TREE_PRICES
    observation_dim: int = 4        # (shares, bonds, dividend, income): the market's private columns
    n_step: int = 3
    discount: float = 0.95
    data_batches: int = 4           # distinct data batches, cycled through
    project_head: bool = True       # also time the ensemble with the project's 161 x 61 basis head
    seed: int = 0

    def __post_init__(self) -> None:
        if not self.agents or any(int(n) < 1 for n in self.agents):
            raise ConfigError("agents", "a comma-separated list of integers >= 1", self.agents)
        for name, low in (("batch", 1), ("steps", 1), ("repeats", 1), ("warmup", 0),
                          ("baseline_agents", 1), ("n_actions", 2), ("observation_dim", 1),
                          ("n_step", 1), ("data_batches", 1)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise ConfigError(name, f"an integer >= {low}", value)
        check_range("discount", self.discount, 0.0, 1.0)

    @property
    def hyperparameters(self) -> DQNHyperparameters:
        return DQNHyperparameters(discount=self.discount, n_step=self.n_step, learning_rate=1e-3,
                                  target_update_tau=0.01, huber_delta=1.0, hidden=(50, 50, 50, 50))


class Windows(NamedTuple):
    """n-step windows for all agents, in the ensemble's layout.

    observation [B, n+1, N, D] float32; tree_action, bond_action [B, n, N] int32; reward [B, n, N].
    """

    observation: tf.Tensor
    tree_action: tf.Tensor
    bond_action: tf.Tensor
    reward: tf.Tensor


def make_windows(cfg: BenchmarkConfig, n_agents: int, rng: np.random.Generator) -> Windows:
    """Synthetic windows on the market's scales: shares ~ 1, bonds ~ 0, dividend ~ 0.045,
    income = shares * dividend + bonds, reward = log consumption. Throughput does not
    depend on the values; both learners read the very same arrays."""
    b, n, d = cfg.batch, cfg.n_step, cfg.observation_dim
    obs = np.empty((b, n + 1, n_agents, d), np.float32)
    shares = 1.0 + 0.1 * rng.standard_normal((b, n + 1, n_agents))
    bonds = 0.01 * rng.standard_normal((b, n + 1, n_agents))
    dividend = 0.0448 * np.exp(0.1 * rng.standard_normal((b, n + 1, 1)))
    columns = [shares, bonds, np.broadcast_to(dividend, shares.shape), shares * dividend + bonds]
    columns += [rng.standard_normal(shares.shape) for _ in range(d - 4)]
    for j in range(d):
        obs[..., j] = columns[j]
    consumption = np.clip(shares[:, :n] * dividend[:, :n] + 0.005 * rng.standard_normal((b, n, n_agents)),
                          1e-3, None)
    return Windows(
        observation=tf.constant(obs),
        tree_action=tf.constant(rng.integers(0, cfg.n_actions, (b, n, n_agents)), tf.int32),
        bond_action=tf.zeros((b, n, n_agents), tf.int32),
        reward=tf.constant(np.log(consumption), tf.float32))


def project_bases(n_prices: int, spacing: int) -> np.ndarray:
    """Gaussian bumps phi_m(k) = exp(-(k - c_m)^2 / (2 s^2)), centres c_m every s grid points; [M, K]."""
    centres = np.arange(0, n_prices - 1 + spacing, spacing)
    k = np.arange(n_prices)
    return np.exp(-(k[None, :] - centres[:, None]) ** 2 / (2.0 * spacing ** 2)).astype(np.float32)


def training_flops(cfg: BenchmarkConfig, head_outputs: int, basis_macs: int = 0) -> float:
    """Floating-point operations of one agent-update, counting matmuls only:
    2 x batch x (MACs of one forward pass) x 5 (online at x_t and x_{t+n}, target at x_{t+n},
    and the backward pass of the online network at x_t, about two forward passes)."""
    widths = (cfg.observation_dim,) + tuple(cfg.hyperparameters.hidden) + (head_outputs,)
    macs = sum(a * b for a, b in zip(widths[:-1], widths[1:])) + basis_macs
    return 2.0 * cfg.batch * macs * 5


def make_ensemble(cfg: BenchmarkConfig, n_agents: int, project_head: bool = False) -> EnsembleDQN:
    if project_head:
        return EnsembleDQN(n_agents, n_agents, cfg.observation_dim, PROJECT_TREE_PRICES, PROJECT_BOND_PRICES,
                           cfg.hyperparameters, seed=cfg.seed,
                           tree_basis=project_bases(PROJECT_TREE_PRICES, PROJECT_BASIS_SPACING),
                           bond_basis=project_bases(PROJECT_BOND_PRICES, PROJECT_BASIS_SPACING))
    return EnsembleDQN(n_agents, n_agents, cfg.observation_dim, cfg.n_actions, 1, cfg.hyperparameters,
                       seed=cfg.seed)


# ---- timing -------------------------------------------------------------------------------

def ensemble_step(ensemble: EnsembleDQN, data: Sequence[Windows]) -> Callable[[int], None]:
    def step(i: int) -> None:
        loss, _, _ = ensemble.train_step(*data[i % len(data)])
        loss.numpy()  # wait for the result (asynchronous on a GPU)
    return step


def run(cfg: BenchmarkConfig, log: Callable[[str], None] = print) -> dict:
    """Time both learners at every N in ``cfg.agents``; returns the JSON-ready result."""
    # Each DqnAgent's train is its own tf.function, traced once; TensorFlow's "N out of the
    # last N calls triggered retracing" warning counts those first traces, so it is silenced
    # here and the trace counts are checked after timing instead.
    tf.get_logger().setLevel("ERROR")
    load_at_start = list(os.getloadavg())
    rng = np.random.default_rng(cfg.seed)
    tf.random.set_seed(cfg.seed)
    n_real = min(cfg.baseline_agents, max(cfg.agents))
    log(f"building {n_real} TF-Agents DdqnAgents ...")
    t0 = time.perf_counter()
    agents = [make_dqn_agent(cfg, k) for k in range(n_real)]
    build_s = time.perf_counter() - t0
    results = []
    for n_agents in cfg.agents:
        data = [make_windows(cfg, n_agents, rng) for _ in range(cfg.data_batches)]
        k_real = min(n_real, n_agents)
        experience = [[agent_trajectory(w, k) for k in range(k_real)] for w in data]
        ensembles = {"ensemble": make_ensemble(cfg, n_agents)}
        if cfg.project_head:
            ensembles["ensemble_project_head"] = make_ensemble(cfg, n_agents, True)
        methods = {"ensemble": ensemble_step(ensembles["ensemble"], data),
                   "separate": separate_step(agents[:k_real], experience)}
        if cfg.project_head:
            methods["ensemble_project_head"] = ensemble_step(ensembles["ensemble_project_head"], data)
        log(f"N = {n_agents}: tracing and warming up, then {cfg.repeats} x {cfg.steps} steps per method ...")
        t0 = time.perf_counter()

        def trace_counts() -> dict[str, int]:
            counts = {name: e.train_step.experimental_get_tracing_count() for name, e in ensembles.items()}
            counts["separate_total"] = sum(a.train.experimental_get_tracing_count() for a in agents[:k_real])
            return counts

        warm: dict[str, int] = {}
        seconds, cpu_seconds = interleaved(methods, cfg, after_warmup=lambda: warm.update(trace_counts()))
        log(f"  done in {time.perf_counter() - t0:.1f} s")
        # no learner may retrace inside the timed blocks (a first call that creates the Adam
        # slots traces twice, during warm-up)
        traces = trace_counts()
        if traces != warm:
            log(f"  warning: tf.function retraced while timing: {warm} -> {traces}")
        ens = statistics.median(seconds["ensemble"])
        sep_real = statistics.median(seconds["separate"])
        per_agent = sep_real / k_real
        sep = per_agent * n_agents
        ens_cpu = statistics.median(cpu_seconds["ensemble"])
        per_agent_cpu = statistics.median(cpu_seconds["separate"]) / k_real
        row = {
            "n_agents": n_agents,
            "ensemble": {"step_seconds_median": ens, "step_seconds": seconds["ensemble"],
                         "training_steps_per_s": 1.0 / ens,
                         "agent_updates_per_s": n_agents / ens,
                         "samples_per_s": n_agents * cfg.batch / ens,
                         "cpu_seconds_per_step_median": ens_cpu,
                         "agent_updates_per_cpu_s": n_agents / ens_cpu},
            "separate": {"real_agents": k_real, "extrapolated": k_real < n_agents,
                         "loop_seconds_median": sep_real, "loop_seconds": seconds["separate"],
                         "seconds_per_agent_update": per_agent,
                         "step_seconds_median": sep,
                         "training_steps_per_s": 1.0 / sep,
                         "agent_updates_per_s": 1.0 / per_agent,
                         "cpu_seconds_per_agent_update": per_agent_cpu,
                         "agent_updates_per_cpu_s": 1.0 / per_agent_cpu},
            "tracing_counts_after_warmup": warm,
            "tracing_counts_after_timing": traces,
            "speedup": sep / ens,
            "speedup_cpu_time": per_agent_cpu * n_agents / ens_cpu,
            "speedup_per_block": [(s / k_real * n_agents) / e
                                  for s, e in zip(seconds["separate"], seconds["ensemble"])],
        }
        if cfg.project_head:
            ph = statistics.median(seconds["ensemble_project_head"])
            row["ensemble_project_head"] = {
                "step_seconds_median": ph, "step_seconds": seconds["ensemble_project_head"],
                "training_steps_per_s": 1.0 / ph, "agent_updates_per_s": n_agents / ph,
                "cpu_seconds_per_step_median": statistics.median(cpu_seconds["ensemble_project_head"]),
                "agent_updates_per_cpu_s": n_agents / statistics.median(cpu_seconds["ensemble_project_head"])}
        row["ensemble"]["gflop_per_s"] = training_flops(cfg, cfg.n_actions + 2) * n_agents / ens / 1e9
        row["separate"]["gflop_per_s"] = training_flops(cfg, cfg.n_actions) / per_agent / 1e9
        if cfg.project_head:
            m_tree, m_bond = (project_bases(k, PROJECT_BASIS_SPACING).shape[0]
                              for k in (PROJECT_TREE_PRICES, PROJECT_BOND_PRICES))
            flops = training_flops(cfg, 1 + m_tree + m_bond,
                                   m_tree * PROJECT_TREE_PRICES + m_bond * PROJECT_BOND_PRICES)
            row["ensemble_project_head"]["gflop_per_s"] = flops * n_agents / ph / 1e9
        results.append(row)
    machine = machine_info()
    machine["load_average_1_5_15min"] = {"start": load_at_start, "end": list(os.getloadavg())}
    return {"benchmark": "learner_throughput", "config": asdict(cfg), "machine": machine,
            "baseline_build_seconds": build_s, "results": results}


def format_table(result: dict) -> str:
    cfg = result["config"]
    lines = [
        f"learner throughput: batch {cfg['batch']} windows/agent, n-step {cfg['n_step']}, "
        f"{cfg['n_actions']} actions, 4 x 50 ReLU, Adam 1e-3; median of {cfg['repeats']} blocks "
        f"x {cfg['steps']} steps; device {result['machine']['device']}, "
        f"{result['machine']['cores_available']} cores",
        f"{'N':>6} {'method':<34} {'s/step':>10} {'steps/s':>9} {'agent-updates/s':>16} {'GFLOP/s':>8} "
        f"{'speedup':>8}",
    ]
    for row in result["results"]:
        n, ens, sep = row["n_agents"], row["ensemble"], row["separate"]
        label = f"{sep['real_agents']} separate DdqnAgents"
        if sep["extrapolated"]:
            label += f" (x{n / sep['real_agents']:.0f} extrap.)"
        lines.append(f"{n:>6} {label:<34} {sep['step_seconds_median']:>10.4f} "
                     f"{sep['training_steps_per_s']:>9.3f} {sep['agent_updates_per_s']:>16,.0f} "
                     f"{sep['gflop_per_s']:>8.1f} {'1.0':>8}")
        lines.append(f"{n:>6} {'batched ensemble (groups = N)':<34} {ens['step_seconds_median']:>10.4f} "
                     f"{ens['training_steps_per_s']:>9.3f} {ens['agent_updates_per_s']:>16,.0f} "
                     f"{ens['gflop_per_s']:>8.1f} {row['speedup']:>8.1f}")
        if "ensemble_project_head" in row:
            ph = row["ensemble_project_head"]
            lines.append(f"{n:>6} {'ensemble, project head 161x61':<34} {ph['step_seconds_median']:>10.4f} "
                         f"{ph['training_steps_per_s']:>9.3f} {ph['agent_updates_per_s']:>16,.0f} "
                         f"{ph['gflop_per_s']:>8.1f} {sep['step_seconds_median'] / ph['step_seconds_median']:>8.1f}")
    load = result["machine"]["load_average_1_5_15min"]
    lines.append(f"load average (1 min) {load['start'][0]:.1f} at start, {load['end'][0]:.1f} at end")
    for row in result["results"]:
        ens, sep = row["ensemble"], row["separate"]
        lines.append(f"N = {row['n_agents']}: agent-updates per CPU-second: separate "
                     f"{sep['agent_updates_per_cpu_s']:,.0f}, ensemble {ens['agent_updates_per_cpu_s']:,.0f}"
                     + (f", project head {row['ensemble_project_head']['agent_updates_per_cpu_s']:,.0f}"
                        if "ensemble_project_head" in row else "")
                     + f"; speedup in CPU time {row['speedup_cpu_time']:.1f}")
    for row in result["results"]:
        sp = row["speedup_per_block"]
        lines.append(f"N = {row['n_agents']}: speedup per timed block {min(sp):.1f} .. {max(sp):.1f}"
                     + ("; separate-agent time extrapolated linearly from "
                        f"{row['separate']['real_agents']} real agents" if row["separate"]["extrapolated"] else ""))
    return "\n".join(lines)


def parse_args(argv: Sequence[str] | None = None) -> tuple[BenchmarkConfig, Path | None]:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--agents", default="100,1200", help="comma-separated numbers of agents N")
    p.add_argument("--batch", type=int, default=32, help="n-step windows per agent per update")
    p.add_argument("--steps", type=int, default=10, help="training steps per timed block")
    p.add_argument("--repeats", type=int, default=5, help="timed blocks per method (median reported)")
    p.add_argument("--warmup", type=int, default=3, help="untimed steps after tracing")
    p.add_argument("--baseline-agents", type=int, default=100,
                   help="real DqnAgents to time; beyond this their cost is extrapolated linearly to N")
    p.add_argument("--actions", type=int, default=PROJECT_TREE_PRICES,
                   help="discrete actions K (DqnAgent: K; ensemble: K tree prices x 1 bond price)")
    p.add_argument("--n-step", type=int, default=3, help="n of the n-step return")
    p.add_argument("--no-project-head", action="store_true",
                   help="skip timing the ensemble with the project's 161 x 61 basis head")
    p.add_argument("--seed", type=int, default=0, help="seed of the data and the weights")
    p.add_argument("--json", type=Path, default=Path("runs/bench/learner_throughput.json"),
                   help="write the numbers and machine info here (runs/ is ignored by git)")
    p.add_argument("--quick", action="store_true",
                   help="smoke run: N = 10,50, 5 real agents, 2 x 2 steps")
    a = p.parse_args(argv)
    try:
        agents = tuple(int(s) for s in str(a.agents).split(",") if s.strip())
    except ValueError:
        raise ConfigError("agents", "a comma-separated list of integers >= 1", a.agents) from None
    if a.quick:
        cfg = BenchmarkConfig(agents=(10, 50), batch=a.batch, steps=2, repeats=2, warmup=1, baseline_agents=5,
                              n_actions=a.actions, n_step=a.n_step, data_batches=2,
                              project_head=not a.no_project_head, seed=a.seed)
    else:
        cfg = BenchmarkConfig(agents=agents, batch=a.batch, steps=a.steps, repeats=a.repeats, warmup=a.warmup,
                              baseline_agents=a.baseline_agents, n_actions=a.actions, n_step=a.n_step,
                              project_head=not a.no_project_head, seed=a.seed)
    return cfg, a.json


def main(argv: Sequence[str] | None = None) -> int:
    try:
        cfg, json_path = parse_args(argv)
    except ConfigError as err:
        print(f"learner_throughput: error: {err}", file=sys.stderr)
        return 2
    result = run(cfg)
    print(format_table(result))
    if json_path is not None:
        json_path.parent.mkdir(parents=True, exist_ok=True)
        json_path.write_text(json.dumps(result, indent=2))
        print(f"wrote {json_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
