"""``lucas-abm evaluator``: greedy evaluation episodes as their own process.

    lucas-abm evaluator --config runs/d/config.yaml --out runs/d --replay-address localhost:8000
"""
from __future__ import annotations

import argparse
from pathlib import Path

from orchestrator.commands.role_options import add_role_options, exit_code_for, load_role_config


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "evaluator", help="run the evaluator process against a replay server",
        description="Every training.eval_interval completed episodes (read from the published "
                    "weights) play one greedy episode on the evaluation market, score it against "
                    "p*, q* (the convergence criterion) and append it to OUT/evaluation.jsonl; "
                    "a last one when the learner publishes stop.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    add_role_options(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    config = load_role_config(args)
    from orchestrator.roles import run_evaluator
    from replay.variables import PeerUnavailable

    try:
        return run_evaluator(config, Path(args.out), args.replay_address, args.shards, args.peer_timeout)
    except PeerUnavailable as err:
        return exit_code_for(err, "evaluator")
