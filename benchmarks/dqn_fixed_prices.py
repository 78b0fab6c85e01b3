"""Can the DQN learn its values when the prices are already right? (docs/acceptance_b.md,
"The DQN against fixed equilibrium prices")

    python benchmarks/dqn_fixed_prices.py [--gamma 2] [--episodes 300] [--agents 100]
        [--paths shared|independent] [--state-networks] [--seed 0] [--set KEY=VALUE ...]
        [--out DIR] [--json]
    python benchmarks/dqn_fixed_prices.py --incentive [--gamma 2] [--set KEY=VALUE ...] [--json]

Every route of acceptance B trains the DQN inside a market whose prices are themselves
learned. This experiment removes the market: M identical price-takers (gamma, beta and the
two-state chain of configs/population_two_types_financed_cpu.yaml) trade with a dealer at the
representative agent's equilibrium prices p(y), q(y) (docs/heterogeneity.md; at s = s0, b = 0
they are the agent's own marginal valuations, ``own_valuations``), with the config's demand
schedules, financing, rewards, observation scaling, action grid, exploration and DQN (the
same :class:`orchestrator.dqn.EnsembleDQN`, one shared network). The optimal policy at the
endowment posts p(y) and q(y) (no trade), so what the greedy networks post there measures the
learner alone: its error in ticks and its price-dividend ratio by state.

Dynamics, per agent (s0 = 1; every quantity is relative to the endowment, and the config's
rewards and observations are scale-free for CRRA utility):

    z      = max(a_t (1 - P/v_t), -s)                     trees bought (sold < 0)
    b^s    = max(b + a_b (1 - Q/v_b), -L)                  the bond schedule's new position
    b'     = b^s - min(phi P z, (b^s + L) Q) / Q  (z > 0)  trees paid for with bonds
           = b^s + phi P |z| / Q                  (z < 0)  sales paid in bonds (the dealer)
    c      = s y + b - P z - Q b' = s y + b - Q b^s (+ any unfinanced part of P z)
    r~     = (u(c) - u(s0 y)) * reward_scale / R,  clipped   (orchestrator/agents.py)

with P = p(y), Q = q(y) in the period's state y; s' = s + z; y' from the chain; phi the
config's ``economy.mechanism_params.financed_fraction`` (default 1: all of it). With the
config's ``economy.mechanism_params.tree_settlement: cash`` (``--set``) trees are paid for out
of consumption instead: b' = b^s, c = s y + b - P z - Q b^s. Purchases
that income cannot pay for are capped (c >= 1% of income), as the market caps over-budget
buyers. ``--paths shared`` gives all M agents one dividend path (as in the market, where they
share it); ``independent`` gives each its own, M times the information about the chain.

The dealer economy (market, observations and rewards, and ``misposting_loss``, the cost of a
misposted value) is in benchmarks/_fixed_price_market.py; this script trains and evaluates.

Writes DIR/evaluations.csv (one row per evaluation: episode, state, posted tree and bond
values at the endowment, p(y), q(y), errors in % and ticks, p/y, and the updates' mean |TD error|
since the last evaluation, in reward units) and DIR/summary.json.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))   # the repository

from _fixed_price_market import (CONFIG, ERRORS, Observer, incentive_table,  # noqa: E402, F401
                                 make_economy, misposting_loss)


class WindowReplay:
    """n-step windows of all agents (as the Reverb table holds them), uniform sampling."""

    def __init__(self, capacity: int, n_step: int, agents: int, dim: int):
        self.n = n_step
        self.obs = np.zeros((capacity, n_step + 1, agents, dim), np.float32)
        self.tree = np.zeros((capacity, n_step, agents), np.int32)
        self.bond = np.zeros((capacity, n_step, agents), np.int32)
        self.reward = np.zeros((capacity, n_step, agents), np.float32)
        self.size = self.next = 0

    def add(self, obs, tree, bond, reward) -> None:
        i = self.next
        self.obs[i], self.tree[i], self.bond[i], self.reward[i] = obs, tree, bond, reward
        self.next = (i + 1) % len(self.obs)
        self.size = min(self.size + 1, len(self.obs))

    def sample(self, batch: int, rng: np.random.Generator):
        idx = rng.integers(0, self.size, batch)
        return self.obs[idx], self.tree[idx], self.bond[idx], self.reward[idx]


def run(gamma: float = 2.0, episodes: int = 300, agents: int = 100, paths: str = "shared",
        state_networks: bool = False, seed: int = 0, eval_interval: int = 10, out: Path | None = None,
        config_path: Path = CONFIG, progress: bool = True, overrides: list[str] | None = None) -> dict:
    """Train, evaluating the greedy values at the endowment every ``eval_interval`` episodes."""
    import tensorflow as tf
    from tqdm import tqdm

    from orchestrator.agents import ActionGrid
    from orchestrator.config import load_config
    from orchestrator.dqn import DQNHyperparameters, EnsembleDQN

    if paths not in ("shared", "independent"):
        raise SystemExit(f"--paths: shared or independent, got {paths!r}")
    config = load_config(config_path, overrides or [], seed=seed)
    lc, ex, horizon = config.learner, config.exploration, config.market.horizon
    market, p, q = make_economy(config, gamma)
    obs_map = Observer(config, market)
    grid = ActionGrid(config.actions)
    hp = DQNHyperparameters(discount=config.economy.beta, n_step=lc.n_step, learning_rate=lc.learning_rate,
                            final_learning_rate=lc.final_learning_rate,
                            decay_updates=episodes * horizon // lc.update_every,
                            target_update_tau=lc.target_update_tau, huber_delta=lc.huber_delta,
                            hidden=tuple(lc.hidden))
    tf.random.set_seed(seed)
    gate = (2, obs_map.levels) if state_networks else None
    dqn = EnsembleDQN(agents, 1, 4, grid.n_tree, grid.n_bond, hp, seed=seed, tree_basis=grid.tree_basis,
                      bond_basis=grid.bond_basis, state_gate=gate)
    replay = WindowReplay(config.replay.capacity, lc.n_step, agents, 4)
    rng = np.random.default_rng(seed)
    n, k_states = lc.n_step, len(market.states)
    start_state = int(config.economy.dividend_params.get("initial_state", 0))
    cumulative = np.cumsum(market.transition, axis=1)
    rows, updates, t0 = [], 0, time.monotonic()
    td_errors: list[float] = []     # mean |TD error| of each update since the last evaluation

    def evaluate(episode: int) -> None:
        """The greedy values of agent k in state k (one shared network), at the endowment."""
        state = np.arange(agents) % k_states
        tree, bond = dqn.greedy(obs_map.observation(state, np.ones(agents), np.zeros(agents)))
        for k in range(k_states):
            vt, vb = float(grid.tree_prices[tree[k]]), float(grid.bond_prices[bond[k]])
            rows.append({"episode": episode, "state": k, "dividend": float(market.states[k]),
                         "tree_value": vt, "tree_price": float(p[k]),
                         "tree_error_pct": 100 * (vt / p[k] - 1),
                         "tree_error_ticks": (vt - p[k]) / config.actions.tree_step,
                         "bond_value": vb, "bond_price": float(q[k]),
                         "bond_error_pct": 100 * (vb / q[k] - 1),
                         "bond_error_ticks": (vb - q[k]) / config.actions.bond_step,
                         "price_dividend": vt / float(market.states[k]),
                         "price_dividend_eq": float(p[k] / market.states[k])})

    bar = tqdm(range(1, episodes + 1), desc=f"dqn at fixed prices (gamma {gamma}, {paths} paths)",
               disable=not progress)
    for episode in bar:
        eps = ex.epsilon(episode - 1, episodes)
        width = 1 if paths == "shared" else agents
        state = np.full(width, start_state)
        shares, bonds = np.ones(agents), np.zeros(agents)
        obs_hist = [obs_map.observation(np.broadcast_to(state, (agents,)), shares, bonds)]
        tree_hist, bond_hist, rew_hist = [], [], []
        for t in range(horizon):
            s_all = np.broadcast_to(state, (agents,))
            tree, bond = dqn.greedy(obs_hist[-1])
            tree = grid.explore("tree", tree, eps, ex, rng)
            bond = grid.explore("bond", bond, eps, ex, rng)
            c, shares, bonds = market.step(s_all, shares, bonds, grid.tree_prices[tree], grid.bond_prices[bond])
            reward = obs_map.reward(s_all, c)
            state = (rng.random(width)[:, None] > cumulative[state]).sum(axis=1)
            obs_hist.append(obs_map.observation(np.broadcast_to(state, (agents,)), shares, bonds))
            tree_hist.append(tree)
            bond_hist.append(bond)
            rew_hist.append(reward)
            if t + 1 >= n:   # the window x_{t+1-n} .. x_{t+1} is complete
                replay.add(np.stack(obs_hist[-n - 1:]), np.stack(tree_hist[-n:]), np.stack(bond_hist[-n:]),
                           np.stack(rew_hist[-n:]))
            if replay.size >= config.replay.min_size and (t + 1) % lc.update_every == 0:
                _, td, _ = dqn.train_step(*(tf.constant(a) for a in replay.sample(lc.batch_size, rng)))
                td_errors.append(float(td))
                updates += 1
        if episode % eval_interval == 0 or episode == episodes:
            evaluate(episode)
            for row in rows[-k_states:]:
                row["td_error_mean"] = float(np.mean(td_errors)) if td_errors else float("nan")
            td_errors.clear()
            last = rows[-k_states:]
            bar.set_postfix(tree=" / ".join(f"{r['tree_error_pct']:+.1f}%" for r in last))
    wall = time.monotonic() - t0
    incentive = {str(k): {f"{asset}_loss_3pct": float(np.mean([misposting_loss(market, config.economy.beta, k, e, asset)
                                                                 for e in (-0.03, 0.03)]) * obs_map.reward_scale)
                          for asset in ("tree", "bond")} for k in range(k_states)}
    summary = _summary(rows, k_states, incentive, dict(gamma=gamma, episodes=episodes, agents=agents, paths=paths,
                                            state_networks=state_networks, seed=seed, overrides=overrides or [],
                                            updates=updates,
                                            wall_seconds=round(wall, 1)))
    if out is not None:
        import pandas as pd

        from orchestrator import atomic

        out.mkdir(parents=True, exist_ok=True)
        pd.DataFrame(rows).to_csv(out / "evaluations.csv", index=False)
        atomic.write_text(out / "summary.json", json.dumps(summary, indent=2) + "\n")
    return summary


def _summary(rows: list[dict], k_states: int, incentive: dict, meta: dict) -> dict:
    """Means over the last third of the evaluations, by state, the last evaluation, and what a
    tree or bond value 3% off would cost at the endowment (``misposting_loss``, the mean of
    +3% and -3%, in reward units) for comparison with the updates' mean |TD error|."""
    by_state = {}
    evals = len(rows) // k_states
    tail = rows[-k_states * max(1, evals // 3):]
    for k in range(k_states):
        mine = [r for r in tail if r["state"] == k]
        by_state[str(k)] = {
            "dividend": mine[0]["dividend"],
            "tree_price": mine[0]["tree_price"], "bond_price": mine[0]["bond_price"],
            "tree_error_pct_mean": float(np.mean([r["tree_error_pct"] for r in mine])),
            "tree_error_ticks_mean": float(np.mean([r["tree_error_ticks"] for r in mine])),
            "bond_error_pct_mean": float(np.mean([r["bond_error_pct"] for r in mine])),
            "bond_error_ticks_mean": float(np.mean([r["bond_error_ticks"] for r in mine])),
            "price_dividend_mean": float(np.mean([r["price_dividend"] for r in mine])),
            "price_dividend_eq": mine[0]["price_dividend_eq"],
            "td_error_mean": float(np.mean([r["td_error_mean"] for r in mine])),
            **incentive[str(k)],
            "last": {key: mine[-1][key] for key in ("episode", "tree_value", "tree_error_pct", "bond_value",
                                                    "bond_error_pct")},
        }
    return {**meta, "evaluations_averaged": len(tail) // k_states, "states": by_state}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--gamma", type=float, default=2.0, help="the agents' CRRA risk aversion, > 0 (default 2)")
    ap.add_argument("--episodes", type=int, default=300, help="training episodes of the config's horizon")
    ap.add_argument("--agents", type=int, default=100, help="price-takers M sharing one network (default 100)")
    ap.add_argument("--paths", choices=("shared", "independent"), default="shared",
                    help="one dividend path for all agents (as in the market) or one each")
    ap.add_argument("--state-networks", action="store_true", help="one network per dividend state")
    ap.add_argument("--seed", type=int, default=0, help="seed of the networks, exploration and dividends")
    ap.add_argument("--eval-interval", type=int, default=10, help="episodes between evaluations")
    ap.add_argument("--config", type=Path, default=CONFIG, help="the config whose market and learner are used")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                    help="override a config key (as train --set), e.g. learner.huber_delta=1000")
    ap.add_argument("--out", type=Path, default=None, help="write evaluations.csv and summary.json here")
    ap.add_argument("--json", action="store_true", help="print the summary as JSON")
    ap.add_argument("--incentive", action="store_true",
                    help="only print what a value 1%%, 3%% or 10%% off costs (misposting_loss), no training")
    args = ap.parse_args(argv)
    for name, low in (("episodes", 1), ("agents", 1), ("eval_interval", 1)):
        if getattr(args, name) < low:
            raise SystemExit(f"--{name.replace('_', '-')}: an integer >= {low}, got {getattr(args, name)}")
    if not args.gamma > 0:
        raise SystemExit(f"--gamma: a number > 0, got {args.gamma}")
    if args.incentive:
        table = incentive_table(args.gamma, args.config, args.set)
        if args.json:
            print(json.dumps(table, indent=2))
        else:
            paid = table["tree_settlement"] + (f" (fraction {table['financed_fraction']:g})"
                                               if table["financed_fraction"] != 1.0 else "")
            print(f"gamma {args.gamma}, trees paid in {paid}: what posting a value e away from "
                  f"the dealer's price for one period costs at the endowment, in reward units")
            for row in table["rows"]:
                print(f"  y = {row['dividend']}, {row['asset']:4s}: " + ", ".join(
                    f"{e:+.0%} {row[f'{e:+.2f}']:.5f}" for e in ERRORS))
        return 0
    summary = run(args.gamma, args.episodes, args.agents, args.paths, args.state_networks, args.seed,
                  args.eval_interval, args.out, args.config, progress=not args.json, overrides=args.set)
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        print(f"gamma {args.gamma}, {args.paths} paths, {args.episodes} episodes, {summary['updates']} updates, "
              f"{summary['wall_seconds']} s; means over the last {summary['evaluations_averaged']} evaluations:")
        for k, s in summary["states"].items():
            print(f"  y = {s['dividend']}: tree {s['tree_error_pct_mean']:+.1f}% ({s['tree_error_ticks_mean']:+.1f} ticks; "
                  f"p/y {s['price_dividend_mean']:.1f}, eq. {s['price_dividend_eq']:.1f}), "
                  f"bond {s['bond_error_pct_mean']:+.2f}% ({s['bond_error_ticks_mean']:+.1f} ticks), "
                  f"mean |TD error| {s['td_error_mean']:.2f}")
            print(f"    a value 3% off costs {s['tree_loss_3pct']:.5f} (tree) / {s['bond_loss_3pct']:.4f} (bond) "
                  f"reward units, {s['td_error_mean'] / s['tree_loss_3pct']:,.0f} / "
                  f"{s['td_error_mean'] / s['bond_loss_3pct']:,.0f} times less than the mean |TD error|")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
