"""``lucas-abm train``: train the agents' Q-networks on the market (see orchestrator.driver)."""
from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

from lucas_abm.errors import ConfigError
from orchestrator.config import load_config
from orchestrator.provenance import write_provenance


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
    if Path(args.out).exists() and not Path(args.out).is_dir():
        raise ConfigError("--out", "a directory (new, or an earlier run's with --resume)", args.out)
    from orchestrator.driver import Trainer, TrainingDiverged       # heavy imports after validation

    out = Path(args.out)
    created = not out.exists()
    try:
        trainer = Trainer(config, out, resume=args.resume, progress=not args.no_progress)
    except BaseException:
        if created and out.is_dir():   # a failed start leaves no half-made run directory behind
            shutil.rmtree(out)
        raise
    write_provenance(out, config.to_dict())
    try:
        summary = trainer.run(stop_after_episodes=args.stop_after)
    except TrainingDiverged as err:
        print(f"lucas-abm: training stopped: {err}", file=sys.stderr)
        return 3
    finally:
        trainer.close()
    print(json.dumps(summary, indent=2))
    return 0
