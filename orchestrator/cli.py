"""The ``lucas-abm`` command line.

Each sub-command lives in its own module under ``orchestrator.commands`` and exposes
``register(subparsers)``, which adds its parser and sets ``func`` (called with the parsed
arguments, returning an exit code). Bad input raises :class:`lucas_abm.errors.ConfigError`,
which becomes a one-line ``lucas-abm: error: ...`` message and exit code 2, before any work.
"""
from __future__ import annotations

import argparse
import importlib
import importlib.util
import sys

from lucas_abm import __version__
from lucas_abm.errors import ConfigError

COMMANDS = (
    "orchestrator.commands.solve",
    "orchestrator.commands.simulate",
    "orchestrator.commands.train",
    "orchestrator.commands.report",
    "orchestrator.commands.replay_server",
    "orchestrator.commands.frictions",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="lucas-abm",
        description="Agent-based Lucas-tree asset markets with deep reinforcement-learning traders.",
    )
    parser.add_argument("--version", action="version", version=f"lucas-abm {__version__}",
                        help="print the package version and exit")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name in COMMANDS:
        if importlib.util.find_spec(name) is not None:
            importlib.import_module(name).register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except ConfigError as err:
        print(f"lucas-abm: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
