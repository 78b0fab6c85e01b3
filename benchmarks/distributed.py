"""Experience and learner throughput of the multi-process layout for K = 1, 2, 4 actors.

Each K runs ``lucas-abm train --actors K`` (orchestrator/launch.py: replay server, learner,
K actors, evaluator as processes on loopback) on ``configs/thesis_cpu_shared.yaml`` (N = 100
agents, T = 100, one shared network: the configuration of the numbers in docs/distributed.md;
``--config configs/thesis_cpu.yaml`` for one network per agent), with the actors' back-pressure off (``--max-owed 0``) so that actors and
learner each run as fast as they can. From the run's own logs, over the window between the
first and the last counted episode (start-up excluded; the learner's rate over the episodes
counted after its first update, so its tracing is excluded too):

    experience agent-steps/s = N * T * (episodes completed in the window) / window seconds
    learner updates/s        = (updates at the last row - updates at the first) / window seconds
    learner demand           = experience windows/s / update_every (what the single-process
                               ratio, one update per update_every windows, would need)

Usage: ``python benchmarks/distributed.py [--actors 1 2 4] [--episodes-per-actor 40]``;
prints a markdown table (docs/distributed.md records one).
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from orchestrator.config import load_config  # noqa: E402
from orchestrator.coordinator import read_rows  # noqa: E402


def run(k: int, episodes: int, out: Path, config_file: str, overrides: list[str]) -> dict:
    import yaml

    from orchestrator.launch import Launcher

    config = load_config(config_file, overrides + [f"training.episodes={episodes}",
                                                   f"training.eval_interval={episodes}",
                                                   f"training.checkpoint_interval={episodes}"])
    out.mkdir(parents=True)
    (out / "config.yaml").write_text(yaml.safe_dump(config.to_dict(), sort_keys=False))
    began = time.time()
    code = Launcher(out / "config.yaml", out, k, actor_args=("--max-owed", "0")).run(timeout_s=1800)
    wall = time.time() - began
    rows = read_rows(out / "metrics.jsonl")
    if code != 0 or len(rows) < 3:
        raise SystemExit(f"K={k}: run failed (code {code}); see {out}/logs")
    first, last = rows[0], rows[-1]
    window = last["finished_at"] - first["finished_at"]
    n, T = config.market.n_agents, config.market.horizon
    steps = n * T * (len(rows) - 1) / window
    learning = [r for r in rows if r["updates"] > 0]      # the learner traces its first step late
    learn_window = learning[-1]["finished_at"] - learning[0]["finished_at"] if len(learning) > 1 else 0.0
    updates = (learning[-1]["updates"] - learning[0]["updates"]) / learn_window if learn_window else float("nan")
    return {"actors": k, "episodes": len(rows), "window_s": window, "learner_window_s": learn_window,
            "wall_s": wall,
            "experience_agent_steps_per_s": steps,
            "per_actor_agent_steps_per_s": steps / k,
            "learner_updates_per_s": updates,
            "learner_demand_updates_per_s": steps / n / config.learner.update_every,
            "load_average_1min": os.getloadavg()[0]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--actors", type=int, nargs="+", default=[1, 2, 4])
    ap.add_argument("--episodes-per-actor", type=int, default=40)
    ap.add_argument("--config", default="configs/thesis_cpu_shared.yaml")
    ap.add_argument("--set", dest="overrides", action="append", default=[])
    ap.add_argument("--json", type=Path, default=None, help="also write the rows here")
    args = ap.parse_args()
    root = Path(tempfile.mkdtemp(prefix="lucas-abm-dist-"))
    results = []
    try:
        for k in args.actors:
            results.append(run(k, args.episodes_per_actor * k, root / f"k{k}", args.config, args.overrides))
            print(json.dumps(results[-1]), flush=True)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    print("\n| actors K | experience agent-steps/s | per actor | learner updates/s | updates/s the "
          "1-process ratio needs | load avg (1 min) |\n|---|---|---|---|---|---|")
    for r in results:
        print(f"| {r['actors']} | {r['experience_agent_steps_per_s']:,.0f} | {r['per_actor_agent_steps_per_s']:,.0f} "
              f"| {r['learner_updates_per_s']:.1f} | {r['learner_demand_updates_per_s']:.1f} "
              f"| {r['load_average_1min']:.1f} |")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
