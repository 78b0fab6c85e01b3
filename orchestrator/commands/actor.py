"""``lucas-abm actor``: one actor (a replica of the economy) as its own process.

    lucas-abm actor --config runs/d/config.yaml --out runs/d --replay-address localhost:8000 --actor-id 0
"""
from __future__ import annotations

import argparse
from pathlib import Path

from orchestrator.commands.arguments import nonnegative_int
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
    p.add_argument("--actor-id", type=actor_id, default="0", metavar="K|auto",
                   help="this actor's number (>= 0): sets its market and exploration seeds; 'auto' "
                        "claims the smallest free number in OUT/actors/ids/ for this host (one per "
                        "container: what `docker compose up --scale actor=K` uses), and the same "
                        "number again when the same host restarts")
    p.add_argument("--max-owed", type=nonnegative_int, default=None, metavar="UPDATES",
                   help="pause while the learner is more than this many updates behind one update "
                        "per learner.update_every windows (default: one episode's, T/update_every; "
                        "0: never pause)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    config = load_role_config(args)
    args.actor_id = claim_actor_id(Path(args.out)) if args.actor_id == "auto" else int(args.actor_id)
    from orchestrator.roles import run_actor
    from replay.variables import PeerUnavailable

    try:
        return run_actor(config, Path(args.out), args.replay_address, args.actor_id, args.shards,
                         args.peer_timeout, args.max_owed)
    except PeerUnavailable as err:
        return exit_code_for(err, "actor")


def actor_id(text: str) -> str:
    """``--actor-id``: an integer >= 0 or ``auto``, checked while the command line is read."""
    if text != "auto" and not (text.isascii() and text.isdigit()):   # not "²"
        raise argparse.ArgumentTypeError(f"must be an integer >= 0, or auto, got {text!r}")
    return text


def claim_actor_id(out: Path) -> int:
    """The smallest actor number not claimed by another host; this host's own claim if it has one.

    A claim is the directory ``OUT/actors/ids/K`` (``mkdir`` is atomic, so two containers starting
    together never get the same K) holding the claiming host's name; a restarted container keeps
    its host name, so it rejoins with its number and continues its own episode count.
    """
    import os
    import socket

    host = socket.gethostname()
    ids = out / "actors" / "ids"
    ids.mkdir(parents=True, exist_ok=True)
    k = 0
    while True:
        claim = ids / str(k)
        try:
            os.mkdir(claim)
        except FileExistsError:
            owner = claim / "host"
            if owner.exists() and owner.read_text() == host:
                return k
            k += 1
            continue
        (claim / "host").write_text(host)
        return k
