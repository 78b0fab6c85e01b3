"""``lucas-abm train``: train the agents' Q-networks on the market (see orchestrator.driver)."""
from __future__ import annotations

import argparse
import json
import sys

from orchestrator.config import load_config


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "train", help="train per-agent deep Q-learners on the Lucas-tree market",
        description="Train N agents' Q-networks (one batched ensemble) on the market, with "
                    "Reverb replay, greedy evaluations, checkpoints and TensorBoard logs. Writes "
                    "DIR/summary.json, DIR/metrics.csv|jsonl (training episodes), "
                    "DIR/evaluation.csv|jsonl, DIR/episodes/*.npz (sampled agents), "
                    "DIR/tensorboard/ and DIR/checkpoints/.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--config", required=True, metavar="FILE",
                   help="YAML config (see configs/: thesis_cpu.yaml, thesis.yaml, iid_lognormal_cpu.yaml, "
                        "log_ar1_cpu.yaml); sections economy, market, actions, learner, exploration, "
                        "replay, training")
    p.add_argument("--seed", type=int, default=None,
                   help="override training.seed (integer >= 0): network init, exploration, market draws")
    p.add_argument("--out", default="runs/train", metavar="DIR",
                   help="output directory (must be new, unless --resume)")
    p.add_argument("--resume", action="store_true",
                   help="continue the run in DIR from its latest checkpoint (same config required)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override one config value, e.g. --set learner.weight_sharing=shared "
                        "--set training.episodes=200 (repeatable; VALUE parsed as YAML)")
    p.add_argument("--no-progress", action="store_true", help="hide the tqdm progress bar")
    p.add_argument("--stop-after", type=int, default=None, metavar="EPISODES",
                   help="end this invocation after this many episodes (a checkpoint is written); "
                        "continue later with --resume")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    config = load_config(args.config, args.overrides, args.seed)   # all validation before any work
    from orchestrator.driver import Trainer, TrainingDiverged       # heavy imports after validation

    trainer = Trainer(config, args.out, resume=args.resume, progress=not args.no_progress)
    try:
        summary = trainer.run(stop_after_episodes=args.stop_after)
    except TrainingDiverged as err:
        print(f"lucas-abm: training stopped: {err}", file=sys.stderr)
        return 3
    finally:
        trainer.close()
    print(json.dumps(summary, indent=2))
    return 0
