"""``lucas-abm learner``: the learner role as its own process (shard 0 also coordinates the run).

    lucas-abm learner --config runs/d/config.yaml --out runs/d --replay-address localhost:8000
"""
from __future__ import annotations

import argparse
from pathlib import Path

from lucas_abm.errors import ConfigError
from orchestrator.commands.role_options import add_role_options, exit_code_for, load_role_config


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "learner", help="run a learner process against a replay server",
        description="Sample n-step windows from the replay server, update the agents' networks "
                    "(one update per learner.update_every inserted windows), publish weights to "
                    "the server's weights table. Shard 0 also counts completed episodes, "
                    "checkpoints (OUT/checkpoints) and stops the run (OUT/summary.json). "
                    "Resumes from its latest checkpoint when restarted.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    add_role_options(p)
    p.add_argument("--shard", type=int, default=0, metavar="I",
                   help="which agent shard this learner owns, in [0, S-1]")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.shards >= 1 and not 0 <= args.shard < args.shards:   # before the run directory is made
        raise ConfigError("--shard", f"an integer in [0, {args.shards - 1}]", args.shard)
    config = load_role_config(args)   # also refuses --shards outside [1, N]
    from orchestrator.learner import NonFiniteUpdate
    from orchestrator.roles import run_learner
    from replay.variables import PeerUnavailable

    try:
        return run_learner(config, Path(args.out), args.replay_address, args.shard, args.shards,
                           args.peer_timeout)
    except PeerUnavailable as err:
        return exit_code_for(err, "learner")
    except NonFiniteUpdate as err:
        exit_code_for(f"training stopped: {err}; last good checkpoint kept", "learner")
        return 3
