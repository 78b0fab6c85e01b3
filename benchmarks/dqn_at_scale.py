"""The DQN against fixed equilibrium prices at accelerator scale: does data fix the bold
type's tree value? (docs/acceptance_b.md, "The DQN at GPU scale")

    python benchmarks/dqn_at_scale.py spec --gamma 1 [--config C] [--set KEY=VALUE ...] --out SPEC.json
    python benchmarks/dqn_at_scale.py train SPEC.json [--agents 65536] [--batch 262144]
        [--episodes 300] [--paths 0] [--seed 0] [--out DIR]

docs/acceptance_b.md ("What a misposted value costs the learner") measured why the DQN misses
the tree's value in the financed market: a tree value 3% off costs the bold type (gamma 1)
about 1e-4 reward units, against a per-sample TD noise of about 3, so telling the two postings
apart takes (2 sigma / L)^2 = 2.5e9-5.6e9 samples, about a thousand times what a CPU run sees.
This script runs that experiment at the scale the estimate asks for: the economy, learner and
schedules of benchmarks/dqn_fixed_prices.py, with M agents and B samples per update.

``spec`` runs in this repository's environment: it reads the config and writes every number
the experiment needs (the chain, the dealer's prices p(y), q(y) from the solver, the schedules'
slopes, the observation and reward scales of the Observer in benchmarks/_fixed_price_market.py, the
action grid and its bases, the learner's and exploration's settings, and ``misposting_loss`` of
a value 3% off) to one JSON file. ``train`` needs only NumPy and JAX: the dynamics are
benchmarks/_dealer.py (the same functions the NumPy benchmark runs) and the learner is
benchmarks/_jax_dqn.py (EnsembleDQN's arithmetic, restated). The economy runs in float64, the
networks in float32, as in the TensorFlow benchmark.

What changes with scale, and nothing else: ``--agents`` M price-takers (each its own dividend
path by default; ``--paths K`` gives K paths shared round-robin, ``--paths 1`` one path as in the
market), ``--batch`` B transitions per update drawn uniformly from a replay of the config's
``replay.capacity`` periods of all M agents, and the same number of updates as the CPU run
(one per ``learner.update_every`` periods, ``--episodes`` x horizon / update_every in all), with
the same learning-rate decay and exploration schedule over episodes. Each update sees B
samples, so a run sees about B x updates samples (the CPU run: 32 windows x 100 agents x
14,898 updates = 4.8e7).

Writes DIR/evaluations.csv (episode, state, the greedy tree and bond values at the endowment,
p(y), q(y), errors in % and ticks, and the updates' mean |TD error| since the last evaluation)
and DIR/summary.json (means over the last third of the evaluations, the samples seen, the
cost of a value 3% off, wall time and the device).
"""
from __future__ import annotations

import argparse
import csv
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))        # _dealer, _jax_dqn


# ---- spec: this repository's numbers, written once ------------------------------------------
def build_spec(gamma: float, config_path: Path | None = None, overrides: list[str] | None = None) -> dict:
    """Every number ``train`` needs, from the config and this repository's solver."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from _fixed_price_market import CONFIG, Observer, make_economy, misposting_loss

    from orchestrator.agents import ActionGrid
    from orchestrator.config import load_config

    config = load_config(config_path or CONFIG, overrides or [])
    market, p, q = make_economy(config, gamma)
    obs = Observer(config, market)
    grid = ActionGrid(config.actions)
    lc, ex = config.learner, config.exploration
    beta = config.economy.beta
    cost = {asset: [float(np.mean([misposting_loss(market, beta, k, e, asset) for e in (-0.03, 0.03)]))
                    * obs.reward_scale for k in range(len(market.states))] for asset in ("tree", "bond")}
    return {
        "gamma": gamma, "beta": beta, "overrides": overrides or [],
        "states": market.states.tolist(), "transition": market.transition.tolist(),
        "start_state": int(config.economy.dividend_params.get("initial_state", 0)),
        "tree_prices": p.tolist(), "bond_prices": q.tolist(),
        "tree_slope": market.tree_slope, "bond_slope": market.bond_slope,
        "borrowing_limit": market.borrowing_limit, "phi": market.paid_in_bonds,
        "floor_fraction": market.floor_fraction, "tree_settlement": market.tree_settlement,
        "observer": {"share_unit": obs.share_unit, "bond_unit": obs.bond_unit, "mean_log": obs.mean_log,
                     "sd_log": obs.sd_log, "reward_scale": obs.reward_scale, "reward_clip": obs.reward_clip,
                     "consumption_floor": obs.consumption_floor},
        "grid": {"tree": grid.tree_prices.tolist(), "bond": grid.bond_prices.tolist(),
                 "tree_basis": grid.tree_basis.tolist(), "bond_basis": grid.bond_basis.tolist(),
                 "tree_step": config.actions.tree_step, "bond_step": config.actions.bond_step},
        "learner": {"hidden": list(lc.hidden), "learning_rate": lc.learning_rate,
                    "final_learning_rate": lc.final_learning_rate or lc.learning_rate, "n_step": lc.n_step,
                    "target_update_tau": lc.target_update_tau, "huber_delta": lc.huber_delta,
                    "update_every": lc.update_every, "batch_size": lc.batch_size},
        "exploration": {"epsilon_start": ex.epsilon_start, "epsilon_end": ex.epsilon_end,
                        "decay_fraction": ex.decay_fraction, "local_fraction": ex.local_fraction,
                        "local_width": ex.local_width},
        "horizon": config.market.horizon,
        "replay": {"capacity": config.replay.capacity, "min_size": config.replay.min_size},
        "misposting_cost_3pct": cost,
    }


def epsilon(spec: dict, episode: int, episodes: int) -> float:
    """ExplorationConfig.epsilon: linear from start to end over decay_fraction of the episodes."""
    ex = spec["exploration"]
    frac = min(1.0, episode / max(1.0, ex["decay_fraction"] * episodes))
    return ex["epsilon_start"] + frac * (ex["epsilon_end"] - ex["epsilon_start"])


# ---- train: JAX -------------------------------------------------------------------------------
def train(spec: dict, agents: int, batch: int, episodes: int, paths: int = 0, seed: int = 0,
          eval_interval: int = 10, out: Path | None = None, progress: bool = True) -> dict:
    """Train the shared network on M = ``agents`` price-takers; evaluate the greedy values at
    the endowment every ``eval_interval`` episodes (module docstring)."""
    import jax

    try:
        jax.config.update("jax_enable_x64", True)      # the economy in float64, as in NumPy
    except (AttributeError, KeyError, ValueError) as exc:   # a JAX without the flag: float32
        print(f"float64 unavailable ({exc}); the economy runs in float32", flush=True)
    # full float32 products (a GPU's default, TF32, keeps 10 bits: 1e-3 of a Q-value, more
    # than the advantages this experiment is about)
    jax.config.update("jax_default_matmul_precision", "highest")
    import jax.numpy as jnp

    import _jax_dqn as dq
    from _dealer import dealer_step, observation, reward

    ob, lc, g = spec["observer"], spec["learner"], spec["grid"]
    n, horizon, every = lc["n_step"], spec["horizon"], lc["update_every"]
    paths = agents if paths == 0 else paths
    states, trans = jnp.asarray(spec["states"]), jnp.asarray(spec["transition"])
    cumulative = jnp.cumsum(trans, axis=1)
    p_eq, q_eq = jnp.asarray(spec["tree_prices"]), jnp.asarray(spec["bond_prices"])
    tree_grid, bond_grid = jnp.asarray(g["tree"]), jnp.asarray(g["bond"])
    bases = (jnp.asarray(g["tree_basis"], jnp.float32), jnp.asarray(g["bond_basis"], jnp.float32))
    n_tree, n_bond = len(g["tree"]), len(g["bond"])
    head = 1 + bases[0].shape[0] + bases[1].shape[0]
    gamma, beta = spec["gamma"], spec["beta"]
    discounts = jnp.asarray(beta ** np.arange(n), jnp.float32)
    discount_n = float(beta ** n)
    capacity = spec["replay"]["capacity"] * agents      # the config's periods, of all M agents
    min_size = spec["replay"]["min_size"] * agents
    decay_updates = max(1, episodes * horizon // every)
    ex = spec["exploration"]
    path_of = jnp.arange(agents) % paths

    def observe(y, shares, bonds):
        return observation(jnp, y, shares, bonds, ob["share_unit"], ob["bond_unit"], ob["mean_log"], ob["sd_log"])

    def update(carry, key):
        params, target, opt, buf, size = carry
        idx = jax.random.randint(key, (batch,), 0, size)
        sample = tuple(a[idx] for a in buf)
        (loss, td), grads = jax.value_and_grad(dq.td_loss, has_aux=True)(
            params, target, sample, bases, discount_n, lc["huber_delta"])
        lr = dq.learning_rate(opt.step, lc["learning_rate"], lc["final_learning_rate"], decay_updates)
        params, opt = dq.adam_apply(params, grads, opt, lr)
        return (params, dq.polyak(target, params, lc["target_update_tau"]), opt), td

    def period(carry, t):
        (params, target, opt, buf, ptr, size, state, shares, bonds, hist, td_sum, td_count, key, eps) = carry
        key, k_tree, k_bond, k_chain, k_update = jax.random.split(key, 5)
        here = state[path_of]                             # each agent's dividend state
        y, p, q = states[here], p_eq[here], q_eq[here]
        x = observe(y, shares, bonds)
        tree, bond = dq.greedy(dq.q_heads(params, x, *bases))
        tree = dq.explore(k_tree, tree, n_tree, eps, ex["local_fraction"], ex["local_width"])
        bond = dq.explore(k_bond, bond, n_bond, eps, ex["local_fraction"], ex["local_width"])
        c, shares, bonds = dealer_step(jnp, y, p, q, shares, bonds, tree_grid[tree], bond_grid[bond],
                                       spec["tree_slope"], spec["bond_slope"], spec["borrowing_limit"],
                                       spec["phi"], spec["floor_fraction"])
        r = reward(jnp, y, c, gamma, ob["reward_scale"], ob["reward_clip"], ob["consumption_floor"])
        state = (jax.random.uniform(k_chain, (paths,))[:, None] > cumulative[state]).sum(axis=1)
        x_next = observe(states[state[path_of]], shares, bonds)
        # the last n periods, slot t mod n; the window x_{t+1-n} .. x_{t+1} starts at slot (t+1) mod n
        h_x, h_tree, h_bond, h_r = hist
        slot = t % n
        h_x, h_tree = h_x.at[slot].set(x), h_tree.at[slot].set(tree)
        h_bond, h_r = h_bond.at[slot].set(bond), h_r.at[slot].set(r)
        start = (t + 1) % n
        order = (start + jnp.arange(n)) % n
        ret = jnp.einsum("i,im->m", discounts, h_r[order])
        window = (h_x[start], h_tree[start], h_bond[start], ret, x_next)
        # written at ptr always, kept once the window is complete (capacity is a multiple of M)
        buf = tuple(jax.lax.dynamic_update_slice_in_dim(b, w, ptr, 0) for b, w in zip(buf, window))
        complete = t + 1 >= n
        ptr = jnp.where(complete, (ptr + agents) % capacity, ptr)
        size = jnp.where(complete, jnp.minimum(size + agents, capacity), size)
        do_update = jnp.logical_and(size >= min_size, (t + 1) % every == 0)
        (params, target, opt), td = jax.lax.cond(
            do_update, lambda: update((params, target, opt, buf, size), k_update),
            lambda: ((params, target, opt), jnp.zeros((), jnp.float32)))
        td_sum, td_count = td_sum + td, td_count + do_update.astype(jnp.int32)
        return (params, target, opt, buf, ptr, size, state, shares, bonds, (h_x, h_tree, h_bond, h_r),
                td_sum, td_count, key, eps), None

    @jax.jit
    def episode(carry):
        carry, _ = jax.lax.scan(period, carry, jnp.arange(horizon))
        return carry

    @jax.jit
    def endowment_values(params):
        """The greedy (tree, bond) values posted at s = 1, b = 0 in each state."""
        k = jnp.arange(len(spec["states"]))
        x = observation(jnp, states[k], jnp.ones(k.shape), jnp.zeros(k.shape), ob["share_unit"], ob["bond_unit"],
                        ob["mean_log"], ob["sd_log"])
        tree, bond = dq.greedy(dq.q_heads(params, x, *bases))
        return tree_grid[tree], bond_grid[bond]

    if out is not None and (out / "evaluations.csv").exists():
        raise SystemExit(f"--out: {out} already holds evaluations.csv; choose a new directory")
    params = dq.init_params(4, tuple(lc["hidden"]), head, seed)
    target, opt = params, dq.adam_init(params)
    buf = (jnp.zeros((capacity, 4), jnp.float32), jnp.zeros(capacity, jnp.int32), jnp.zeros(capacity, jnp.int32),
           jnp.zeros(capacity, jnp.float32), jnp.zeros((capacity, 4), jnp.float32))
    ptr = size = jnp.zeros((), jnp.int64)
    key = jax.random.key(seed)
    rows, updates, t0, td_total, td_n = [], 0, time.monotonic(), 0.0, 0
    device = str(jax.devices()[0].device_kind)
    for ep in range(1, episodes + 1):
        key, k_ep = jax.random.split(key)
        shares, bonds = jnp.ones(agents), jnp.zeros(agents)
        state = jnp.full(paths, spec["start_state"], jnp.int64)
        hist = (jnp.zeros((n, agents, 4), jnp.float32), jnp.zeros((n, agents), jnp.int32),
                jnp.zeros((n, agents), jnp.int32), jnp.zeros((n, agents), jnp.float32))
        carry = (params, target, opt, buf, ptr, size, state, shares, bonds, hist, jnp.zeros((), jnp.float32),
                 jnp.zeros((), jnp.int32), k_ep, jnp.asarray(epsilon(spec, ep - 1, episodes), jnp.float32))
        params, target, opt, buf, ptr, size, *_, td_sum, td_count, _, _ = episode(carry)
        td_total, td_n, updates = td_total + float(td_sum), td_n + int(td_count), updates + int(td_count)
        if ep % eval_interval == 0 or ep == episodes:
            tree_v, bond_v = (np.asarray(a) for a in endowment_values(params))
            for k, y in enumerate(spec["states"]):
                p, q = spec["tree_prices"][k], spec["bond_prices"][k]
                rows.append({"episode": ep, "state": k, "dividend": y, "tree_value": float(tree_v[k]), "tree_price": p,
                             "tree_error_pct": 100 * (tree_v[k] / p - 1),
                             "tree_error_ticks": (tree_v[k] - p) / g["tree_step"],
                             "bond_value": float(bond_v[k]), "bond_price": q,
                             "bond_error_pct": 100 * (bond_v[k] / q - 1),
                             "bond_error_ticks": (bond_v[k] - q) / g["bond_step"],
                             "td_error_mean": td_total / max(td_n, 1), "updates": updates,
                             "samples": updates * batch, "wall_seconds": round(time.monotonic() - t0, 2)})
            td_total, td_n = 0.0, 0
            if out is not None:     # written as it goes: a run stopped early keeps its evaluations
                _append_rows(out / "evaluations.csv", rows[-len(spec["states"]):])
            if progress:
                last = rows[-len(spec["states"]):]
                print(f"episode {ep}: updates {updates}, {time.monotonic() - t0:.0f} s, tree "
                      + " / ".join(f"{r['tree_error_pct']:+.1f}%" for r in last) + ", bond "
                      + " / ".join(f"{r['bond_error_pct']:+.1f}%" for r in last)
                      + f", |TD| {last[0]['td_error_mean']:.3g}", flush=True)
    summary = summarise(spec, rows, dict(agents=agents, batch=batch, episodes=episodes, paths=paths, seed=seed,
                                         updates=updates, samples=updates * batch, device=device,
                                         wall_seconds=round(time.monotonic() - t0, 1)))
    if out is not None:
        (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    return summary


def _append_rows(path: Path, rows: list[dict]) -> None:
    new = not path.exists()
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        if new:
            writer.writeheader()
        writer.writerows(rows)


def summarise(spec: dict, rows: list[dict], meta: dict) -> dict:
    """Means over the last third of the evaluations by state, the last evaluation, and the
    mean |TD error| over the cost of a value 3% off (the noise-to-cost ratio)."""
    k_states = len(spec["states"])
    evals = len(rows) // k_states
    tail = rows[-k_states * max(1, evals // 3):]
    by_state = {}
    for k in range(k_states):
        mine = [r for r in tail if r["state"] == k]
        td = float(np.mean([r["td_error_mean"] for r in mine]))
        cost = spec["misposting_cost_3pct"]
        by_state[str(k)] = {
            "dividend": spec["states"][k],
            **{f"{key}_mean": float(np.mean([r[key] for r in mine]))
               for key in ("tree_error_pct", "tree_error_ticks", "bond_error_pct", "bond_error_ticks")},
            "td_error_mean": td, "tree_cost_3pct": cost["tree"][k], "bond_cost_3pct": cost["bond"][k],
            "noise_to_cost_tree": td / cost["tree"][k],
            "last": {key: mine[-1][key] for key in ("episode", "tree_error_pct", "bond_error_pct")},
        }
    return {**meta, "gamma": spec["gamma"], "tree_settlement": spec["tree_settlement"], "phi": spec["phi"],
            "overrides": spec["overrides"], "evaluations_averaged": len(tail) // k_states, "states": by_state}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="command", required=True)
    sp = sub.add_parser("spec", help="write the experiment's numbers (needs this repository's environment)")
    sp.add_argument("--gamma", type=float, default=1.0, help="the agents' CRRA risk aversion, > 0 (default 1: the bold type)")
    sp.add_argument("--config", type=Path, default=None,
                    help="the config (default configs/population_two_types_financed_cpu.yaml)")
    sp.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a config key")
    sp.add_argument("--out", type=Path, required=True, help="the spec file to write (JSON)")
    tp = sub.add_parser("train", help="train and evaluate (needs NumPy and JAX only)")
    tp.add_argument("spec", type=Path, help="a file written by the spec command")
    tp.add_argument("--agents", type=int, default=65536, help="price-takers M sharing one network (default 65536)")
    tp.add_argument("--batch", type=int, default=262144, help="transitions per update B (default 262144)")
    tp.add_argument("--episodes", type=int, default=300, help="episodes of the config's horizon (default 300)")
    tp.add_argument("--paths", type=int, default=0,
                    help="dividend paths shared round-robin by the agents; 0 (default): one per agent")
    tp.add_argument("--seed", type=int, default=0, help="seed of the network, exploration and dividends")
    tp.add_argument("--eval-interval", type=int, default=10, help="episodes between evaluations (default 10)")
    tp.add_argument("--out", type=Path, default=None, help="write evaluations.csv and summary.json here")
    rp = sub.add_parser("reference", help="the TensorFlow learner's numbers for the check (this repository's environment)")
    rp.add_argument("spec", type=Path, help="a file written by the spec command")
    rp.add_argument("--out", type=Path, required=True, help="the reference file to write (.npz)")
    cp = sub.add_parser("check", help="hold the JAX learner to a reference file (needs NumPy and JAX only)")
    cp.add_argument("spec", type=Path, help="a file written by the spec command")
    cp.add_argument("reference", type=Path, help="a file written by the reference command")
    cp.add_argument("--tolerance", type=float, default=1e-4, help="largest relative difference accepted (default 1e-4)")
    args = ap.parse_args(argv)
    if args.command == "reference":
        from _jax_dqn_check import tensorflow_reference

        np.savez(args.out, **tensorflow_reference(json.loads(args.spec.read_text())))
        print(f"wrote {args.out}")
        return 0
    if args.command == "check":
        from _jax_dqn_check import jax_check

        with np.load(args.reference) as ref:
            diff = jax_check(json.loads(args.spec.read_text()), dict(ref))
        worst = max(diff.values())
        print("JAX learner against TensorFlow's, largest relative differences: "
              + ", ".join(f"{k} {v:.1e}" for k, v in diff.items()))
        if not worst <= args.tolerance:
            raise SystemExit(f"check failed: {worst:.1e} > --tolerance {args.tolerance:g}")
        return 0
    if args.command == "spec":
        if not args.gamma > 0:
            raise SystemExit(f"--gamma: a number > 0, got {args.gamma}")
        spec = build_spec(args.gamma, args.config, args.set)
        args.out.write_text(json.dumps(spec) + "\n")
        print(f"wrote {args.out}: gamma {args.gamma}, trees paid in {spec['tree_settlement']} (phi {spec['phi']:g}), "
              f"a tree value 3% off costs {' / '.join(f'{c:.5f}' for c in spec['misposting_cost_3pct']['tree'])} reward units")
        return 0
    for name, low in (("agents", 1), ("batch", 1), ("episodes", 1), ("eval_interval", 1), ("paths", 0)):
        if getattr(args, name) < low:
            raise SystemExit(f"--{name.replace('_', '-')}: an integer >= {low}, got {getattr(args, name)}")
    if args.paths > args.agents:
        raise SystemExit(f"--paths: an integer in [0, --agents = {args.agents}], got {args.paths}")
    spec = json.loads(args.spec.read_text())
    summary = train(spec, args.agents, args.batch, args.episodes, args.paths, args.seed, args.eval_interval, args.out)
    print(json.dumps({k: v for k, v in summary.items() if k != "states"}))
    for k, s in summary["states"].items():
        print(f"  y = {s['dividend']}: tree {s['tree_error_pct_mean']:+.1f}% ({s['tree_error_ticks_mean']:+.1f} ticks), "
              f"bond {s['bond_error_pct_mean']:+.2f}%, mean |TD error| {s['td_error_mean']:.3g}, "
              f"noise / cost (tree 3%) {s['noise_to_cost_tree']:,.0f}; last: tree {s['last']['tree_error_pct']:+.1f}%")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
