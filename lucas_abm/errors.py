"""One error type for bad input, raised before any work starts.

Every message names the offending field and the allowed values, e.g.
``beta: must be in (0, 1), got 1.2``. The CLI turns it into a one-line error and exit code 2.
"""
from __future__ import annotations

from typing import Any


class ConfigError(ValueError):
    """Invalid user input: ``field`` is the parameter name, ``allowed`` the admissible values."""

    def __init__(self, field: str, allowed: str, got: Any = None, *, detail: str | None = None):
        self.field = field
        self.allowed = allowed
        self.got = got
        self.detail = detail
        message = f"{field}: must be {allowed}"
        if got is not None:
            message += f", got {got!r}"
        if detail:
            message += f" ({detail})"
        super().__init__(message)


def check_range(field: str, value: float, low: float | None = None, high: float | None = None,
                *, low_open: bool = True, high_open: bool = True, text: bool = True) -> float:
    """Raise ConfigError unless ``value`` is a finite number inside the (open/closed) interval.
    ``text``: accept a string that float() reads (command-line options arrive as text); a
    value from a YAML file passes ``text=False``, where ``'0.5'`` was quoted on purpose."""
    import math

    def _interval() -> str:
        left = "(" if low_open else "["
        right = ")" if high_open else "]"
        lo = "-inf" if low is None else f"{low:g}"
        hi = "inf" if high is None else f"{high:g}"
        return f"in {left}{lo}, {hi}{right}"

    if isinstance(value, bool) or (isinstance(value, (str, bytes)) and not text):
        raise ConfigError(field, f"a number {_interval()}", value)   # YAML's true is not 1
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ConfigError(field, f"a number {_interval()}", value) from None
    if not math.isfinite(v):
        raise ConfigError(field, f"a finite number {_interval()}", value)
    if low is not None and (v < low or (low_open and v == low)):
        raise ConfigError(field, _interval(), value)
    if high is not None and (v > high or (high_open and v == high)):
        raise ConfigError(field, _interval(), value)
    return v


def check_int(field: str, value, low: int, high: int | None = None) -> int:
    """Raise ConfigError unless ``value`` is an integer (not a bool) >= ``low`` (and <= ``high``)."""
    import numpy as np

    allowed = f"an integer >= {low}" if high is None else f"an integer in [{low}, {high:,}]"
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low \
            or (high is not None and value > high):
        raise ConfigError(field, allowed, value)
    return int(value)


def check_choice(field: str, value: str, choices) -> str:
    """Raise ConfigError unless ``value`` is one of ``choices``."""
    choices = list(choices)
    if value not in choices:
        raise ConfigError(field, "one of " + ", ".join(map(str, choices)), value)
    return value
