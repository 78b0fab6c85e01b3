"""argparse types and the parser class of the ``lucas-abm`` commands.

A type checks its value while the command line is read, before any work starts, and a bad
value gets one line naming the option and what it accepts, with exit code 2::

    lucas-abm: error: --seed: must be an integer >= 0, got '-1'
    lucas-abm: error: --out: must be a directory (new or existing), not a file or inside one, got 'notes.txt'
"""
from __future__ import annotations

import argparse
import math
import os
import re
from pathlib import Path


class CommandLineError(Exception):
    """A command line argparse refused; ``lucas-abm`` prints it as one line, exit code 2."""


class OneLineParser(argparse.ArgumentParser):
    """argparse's parser whose errors are the project's one line (no usage block): an option's
    bad value reads ``lucas-abm: error: --seed: must be an integer >= 0, got '-1'``, as the
    config checks' errors do; a missing or unknown option points at ``--help``. ``main``
    prints it and returns 2. ``--help`` is unchanged."""

    def error(self, message: str):
        if message.startswith("argument "):       # "argument --seed: must be ..." -> "--seed: ..."
            if message.endswith("expected one argument"):   # e.g. --states -0.04,0.05
                message += " (a value that starts with '-' goes as OPTION=VALUE)"
            raise CommandLineError(self._with_range(message[len("argument "):]))
        raise CommandLineError(f"{message} (see {self.prog} --help)")

    def _with_range(self, message: str) -> str:
        """argparse's ``--beta: invalid float value: 'x'`` as ``--beta: must be a number, got
        'x' (discount factor, in (0, 1))``: the option's help states its range."""
        match = re.fullmatch(r"(\S+): invalid (int|float) value: (.*)", message)
        if not match:
            return message
        option, kind, got = match.groups()
        what = "an integer" if kind == "int" else "a number"
        action = self._option_string_actions.get(option.split("/")[0])
        help_text = f" ({action.help})" if action is not None and action.help else ""
        return f"{option}: must be {what}, got {got}{help_text}"


def _refuse(allowed: str, text: str):
    return argparse.ArgumentTypeError(f"must be {allowed}, got {text!r}")


def integer_at_least(low: int):
    """The argparse type of an integer >= ``low``."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise _refuse(f"an integer >= {low}", text) from None
        if value < low:
            raise _refuse(f"an integer >= {low}", text)
        return value
    return parse


nonnegative_int = integer_at_least(0)   # seeds: numpy's generators take no negative seed
positive_int = integer_at_least(1)      # counts of episodes


#: The longest wait a timeout option takes: a week. gRPC deadlines are int64 nanoseconds, and
#: 1e308 s (like nan and inf) made the wait endless.
MAX_SECONDS = 7 * 86400.0


def positive_seconds(text: str) -> float:
    """A number of seconds in (0, a week]."""
    allowed = f"a number of seconds in (0, {MAX_SECONDS:g}] (a week)"
    try:
        value = float(text)
    except ValueError:
        raise _refuse(allowed, text) from None
    if not (math.isfinite(value) and 0 < value <= MAX_SECONDS):
        raise _refuse(allowed, text)
    return value


def output_dir(text: str) -> Path:
    """A directory a command may create or write into: not empty (``--out "$UNSET"`` would
    write into the working directory), not an existing file or a path inside one, and below a
    directory this user can write."""
    if not text.strip():
        raise _refuse("a directory path", text)
    path = Path(text)
    existing = next(p for p in (path, *path.parents) if p.exists())   # '.' or '/' at the latest
    if not existing.is_dir():
        raise _refuse("a directory (new or existing), not a file or inside one", text)
    if not os.access(existing, os.W_OK | os.X_OK):
        raise _refuse(f"a directory that can be written ({existing} is not writable)", text)
    return path
