"""YAML for configs and population files, with YAML 1.2's floats.

PyYAML follows YAML 1.1, where ``1e-3`` and ``1e3`` (no dot) are strings, so ``size: 1e-12``
in a population file was refused as ``got '1e-12'`` while ``1.0e-12`` was read as a number.
:func:`load_yaml` reads both as floats, as YAML 1.2 and every other YAML library do; everything
else is ``yaml.safe_load``'s.
"""
from __future__ import annotations

import re

import yaml


class _Loader(yaml.SafeLoader):
    """``yaml.SafeLoader`` whose float pattern is YAML 1.2's (the exponent's dot is optional)."""


_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"""^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+]?[0-9]+)?
                   |[-+]?(?:[0-9][0-9_]*)(?:[eE][-+]?[0-9]+)
                   |[-+]?\.[0-9_]+(?:[eE][-+]?[0-9]+)?
                   |[-+]?\.(?:inf|Inf|INF)
                   |\.(?:nan|NaN|NAN))$""", re.X),
    list("-+0123456789."))


def load_yaml(stream):
    """``yaml.safe_load(stream)``, with ``1e-3`` and ``1e3`` read as floats."""
    return yaml.load(stream, Loader=_Loader)
