"""``lucas-abm actor``: one actor (a replica of the economy) as its own process.

    lucas-abm actor --config runs/d/config.yaml --out runs/d --replay-address localhost:8000 --actor-id 0
"""
from __future__ import annotations

import argparse
from pathlib import Path

from lucas_abm.errors import ConfigError
from orchestrator.commands.role_options import add_role_options, exit_code_for, load_role_config


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "actor", help="run an actor process (one economy replica) against a replay server",
        description="Play training episodes of one market replica with the newest published "
                    "weights, write their n-step windows to the replay server, and log each "
                    "completed episode once to OUT/actors/actor-ID.jsonl. Exits when the learner "
                    "publishes stop; a restarted actor continues at its next episode.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    add_role_options(p)
    p.add_argument("--actor-id", type=int, default=0, metavar="K",
                   help="this actor's number (>= 0): sets its market and exploration seeds")
    p.add_argument("--max-owed", type=int, default=None, metavar="UPDATES",
                   help="pause while the learner is more than this many updates behind one update "
                        "per learner.update_every windows (default: one episode's, T/update_every; "
                        "0: never pause)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    config = load_role_config(args)
    if args.actor_id < 0:
        raise ConfigError("--actor-id", "an integer >= 0", args.actor_id)
    if args.max_owed is not None and args.max_owed < 0:
        raise ConfigError("--max-owed", "an integer >= 0", args.max_owed)
    from orchestrator.roles import run_actor
    from replay.variables import PeerUnavailable

    try:
        return run_actor(config, Path(args.out), args.replay_address, args.actor_id, args.shards,
                         args.peer_timeout, args.max_owed)
    except PeerUnavailable as err:
        return exit_code_for(err, "actor")
