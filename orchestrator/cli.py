"""The ``lucas-abm`` command line.

Each sub-command lives in its own module under ``orchestrator.commands`` and exposes
``register(subparsers)``, which adds its parser and sets ``func`` (called with the parsed
arguments, returning an exit code). Bad input raises :class:`lucas_abm.errors.ConfigError`,
which becomes a one-line ``lucas-abm: error: ...`` message and exit code 2, before any work.
"""
from __future__ import annotations

import argparse
import contextlib
import importlib
import importlib.util
import os
import sys

from lucas_abm import __version__
from lucas_abm.errors import ConfigError
from orchestrator.commands.arguments import CommandLineError, OneLineParser
from orchestrator.launch import follow_launcher
from orchestrator.quiet import native_log_filter, quiet_libraries

VERBOSE_HELP = ("show TensorFlow's start-up messages and Reverb's server log (hidden by default; "
                "Python warnings and errors are always shown)")
NATIVE_LOG_COMMANDS = ("train", "replay-server")  # run a Reverb server in this process
COMMANDS = (
    "orchestrator.commands.solve",
    "orchestrator.commands.simulate",
    "orchestrator.commands.train",
    "orchestrator.commands.report",
    "orchestrator.commands.replay_server",
    "orchestrator.commands.learner",
    "orchestrator.commands.actor",
    "orchestrator.commands.evaluator",
    "orchestrator.commands.frictions",
    "orchestrator.commands.granular",
    "orchestrator.commands.merton",
)


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(
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
    for command in sub.choices.values():  # --verbose after any sub-command too
        command.add_argument("--verbose", action="store_true", default=argparse.SUPPRESS,
                             help=VERBOSE_HELP)
    parser.add_argument("--verbose", action="store_true", help=VERBOSE_HELP)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except CommandLineError as err:
        print(f"lucas-abm: error: {err}", file=sys.stderr)
        return 2
    follow_launcher()      # a role of `train --actors K` stops when its launcher dies
    if not args.verbose:
        quiet_libraries()  # before any command imports TensorFlow
    filtered = not args.verbose and args.command in NATIVE_LOG_COMMANDS
    try:
        with native_log_filter() if filtered else contextlib.nullcontext():
            status = int(args.func(args) or 0)
        sys.stdout.flush()   # inside the try: a closed pipe raises here, not at exit
        return status
    except ConfigError as err:
        print(f"lucas-abm: error: {err}", file=sys.stderr)
        return 2
    except BrokenPipeError:      # `lucas-abm ... | head`: the reader left; no traceback
        devnull = os.open(os.devnull, os.O_WRONLY)   # Python's own flush at exit would raise again
        os.dup2(devnull, sys.stdout.fileno())
        return 1
    except MemoryError as err:   # sizes this machine cannot hold (agents, steps, buffers)
        print(f"lucas-abm: error: not enough memory for this command ({err or 'MemoryError'}); "
              "ask for fewer agents, periods, paths or replay items", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
