"""``lucas-abm replay-server``: a standalone Reverb server holding the experience table.

For the distributed layout (replay server, orchestrator, learners in separate processes or
containers). The table (signature, capacity, min_size) comes from the same training config
file the other processes read. No authentication: keep the port on a private network.

Example::

    lucas-abm replay-server --config configs/thesis.yaml --port 8000
"""
from __future__ import annotations

import argparse
from pathlib import Path

from lucas_abm.errors import ConfigError
from orchestrator.commands.arguments import output_dir


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "replay-server", help="run a standalone Reverb replay server for the experience table",
        description="Serve the experience table (n-step windows of all agents) built from a "
                    "training config file: market.n_agents, market.public_information, "
                    "learner.n_step and the replay section (docs/replay.md). Blocks until "
                    "interrupted. The server has no authentication: keep it on a private "
                    "network.")
    p.add_argument("--config", type=Path, required=True,
                   help="training config YAML (reads market.n_agents, "
                        "market.public_information, learner.n_step, replay.*)")
    p.add_argument("--port", type=int, required=True,
                   help="TCP port to listen on, in [1, 65535] (all interfaces)")
    p.add_argument("--checkpoint-dir", type=output_dir, default=None,
                   help="directory to restore the latest replay checkpoint from and to "
                        "write checkpoints to (default: a temporary directory)")
    p.add_argument("--shards", type=int, default=1, metavar="S",
                   help="number of agent-sharded learners, in [1, market.n_agents]: one weights "
                        "table each (default 1)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override one config value, as in train and the other roles (repeatable; "
                        "VALUE parsed as YAML); every role of the run must get the same")
    p.add_argument("--out", type=output_dir, default=None, metavar="DIR",
                   help="the run directory: keep this server's CPU seconds in DIR/cpu/replay.json, "
                        "beside the other roles' (default: not recorded)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from orchestrator.config import apply_overrides, config_from_dict
    from replay.tables import read_config_mapping, replay_settings

    if isinstance(args.port, bool) or not 1 <= args.port <= 65535:
        raise ConfigError("port", "an integer in [1, 65535]", args.port)
    raw = apply_overrides(read_config_mapping(args.config), args.overrides)
    settings = replay_settings(raw, args.config)  # validate before starting anything (exit 2)
    try:
        config = config_from_dict(raw)
    except ConfigError as err:   # a replay-only file: the experience table alone
        print(f"replay server: experience table only ({args.config} is not a full training "
              f"config: {err})", flush=True)
        config = None
    if config is not None and not 1 <= args.shards <= config.market.n_agents:
        raise ConfigError("--shards", f"an integer in [1, market.n_agents = {config.market.n_agents}]",
                          args.shards)
    if args.checkpoint_dir is not None and args.checkpoint_dir.exists() and not args.checkpoint_dir.is_dir():
        raise ConfigError("--checkpoint-dir", "a directory", str(args.checkpoint_dir))
    from orchestrator.cpu_record import CpuRecord
    from orchestrator.role_lock import RoleLock

    if args.out is None:
        return _serve(args, config, settings)
    with (RoleLock(args.out, "replay", allowed="a run directory where no replay server is running"),
          CpuRecord(args.out, "replay")):
        return _serve(args, config, settings)


def _serve(args: argparse.Namespace, config, settings) -> int:
    from replay.server import serve_settings, serve_tables  # Reverb and TensorFlow: only after validation

    try:
        if config is None:
            serve_settings(settings, args.port, checkpoint_dir=args.checkpoint_dir)
        else:
            from orchestrator.roles import replay_tables

            serve_tables(replay_tables(config, args.shards), args.port, args.checkpoint_dir)
    except KeyboardInterrupt:
        pass
    except ValueError as err:   # Reverb's gRPC server could not bind the port
        if "BuildAndStart" not in str(err):
            raise
        raise ConfigError("--port", "a port no other process is listening on", args.port) from None
    return 0
