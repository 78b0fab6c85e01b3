"""Options shared by the role commands (``learner``, ``actor``, ``evaluator``) and their checks."""
from __future__ import annotations

import argparse
from pathlib import Path

from lucas_abm.errors import ConfigError
from orchestrator.commands.arguments import output_dir, positive_seconds
from orchestrator.config import PEER_TIMEOUT_S


def add_role_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", required=True, metavar="FILE",
                   help="training config YAML, the same file for every role of the run "
                        "(train --actors K passes OUT/config.yaml, the resolved config)")
    p.add_argument("--out", type=output_dir, required=True, metavar="DIR",
                   help="the run directory every role shares (checkpoints, logs, summary.json)")
    p.add_argument("--replay-address", required=True, metavar="HOST:PORT",
                   help="address of the replay server (lucas-abm replay-server)")
    p.add_argument("--shards", type=int, default=1, metavar="S",
                   help="number of agent-sharded learners (each owns the networks of N/S agents), "
                        "in [1, N]: 1, a divisor of learner.agent_types with shared weights, any S "
                        "with independent weights (default 1)")
    p.add_argument("--peer-timeout", type=positive_seconds, default=PEER_TIMEOUT_S, metavar="SECONDS",
                   help="longest wait for the replay server or the first weights, in (0, 604800] "
                        f"seconds; then exit 4 with a message naming the peer (default {PEER_TIMEOUT_S:g})")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override one config value (as in train); every role must get the same")


def check_address(address: str) -> str:
    host, sep, port = address.rpartition(":")
    if not sep or not host or not (port.isascii() and port.isdigit()) or not 1 <= int(port) <= 65535:
        raise ConfigError("--replay-address", "HOST:PORT with PORT in [1, 65535]", address)
    return address


def load_role_config(args: argparse.Namespace):
    """Validate everything (config, address, shards, timeouts) before TensorFlow is imported."""
    import faulthandler
    import signal

    faulthandler.register(signal.SIGUSR1)   # `kill -USR1 PID` prints every thread's stack
    from orchestrator.config import check_shard_count, load_config

    config = load_config(args.config, args.overrides)
    check_address(args.replay_address)
    check_shard_count(config.market.n_agents, args.shards)
    if config.learner.weight_sharing == "shared" and args.shards > 1 and config.groups % args.shards:
        raise ConfigError("--shards", "1, or a divisor of learner.agent_types (shared weights), or "
                          "any S with learner.weight_sharing=independent", args.shards)
    Path(args.out).mkdir(parents=True, exist_ok=True)
    return config


def exit_code_for(err: Exception, role: str) -> int:
    import sys

    message = str(err)
    if message.startswith(f"{role}: "):        # "learner: no replay server ..." names it already
        message = message[len(role) + 2:]
    print(f"lucas-abm {role}: {message}", file=sys.stderr, flush=True)
    return 4
