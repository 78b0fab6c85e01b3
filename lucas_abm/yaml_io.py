"""YAML for configs and population files: YAML 1.2's core schema, and no duplicate keys.

PyYAML follows YAML 1.1, whose implicit types surprise in a config: ``1e-3`` (no dot) is a
string, ``010`` is 8 (octal), ``1:30`` is 90 (base 60), ``1_000`` is 1000, ``yes``, ``no``,
``on`` and ``off`` are booleans (so a key ``on:`` is ``True``), ``2026-12-04`` is a date.
:func:`load_yaml` resolves plain scalars by YAML 1.2's core schema, as other YAML libraries
do:

* null: ``null``, ``Null``, ``NULL``, ``~`` and the empty value;
* booleans: ``true``, ``True``, ``TRUE``, ``false``, ``False``, ``FALSE`` only;
* integers: decimal ``[-+]?[0-9]+`` (``010`` is ten), ``0o17`` (octal) and ``0x1F`` (hex);
* floats: ``[-+]?(.[0-9]+ | [0-9]+(.[0-9]*)?)([eE][-+]?[0-9]+)?`` (``1e-3`` included),
  ``.inf``, ``-.inf``, ``.nan`` (each in three cases);
* everything else is a string (``yes``, ``1:30``, ``1_000``, ``0b11``, dates), which a
  numeric field then refuses with its range.

A mapping that repeats a key is an error naming the key and both lines (PyYAML keeps the
last value silently, so a config's second ``gamma:`` would win unseen).
"""
from __future__ import annotations

import re

import yaml
from yaml.constructor import ConstructorError

NULL = "tag:yaml.org,2002:null"
BOOL = "tag:yaml.org,2002:bool"
INT = "tag:yaml.org,2002:int"
FLOAT = "tag:yaml.org,2002:float"
MERGE = "tag:yaml.org,2002:merge"

# YAML 1.2 core schema (https://yaml.org/spec/1.2.2/#1032-tag-resolution)
CORE_RESOLVERS = (
    (BOOL, re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")),
    (INT, re.compile(r"^(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)$"), list("-+0123456789")),
    (FLOAT, re.compile(r"""^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?
                          |[-+]?\.(?:inf|Inf|INF)
                          |\.(?:nan|NaN|NAN))$""", re.X), list("-+0123456789.")),
)


class _Loader(yaml.SafeLoader):
    """``yaml.SafeLoader`` with YAML 1.2 core-schema resolution and duplicate keys refused."""

    def construct_mapping(self, node, deep=False):
        if isinstance(node, yaml.MappingNode):
            _refuse_duplicate_keys(self, node)
        return super().construct_mapping(node, deep=deep)


def _refuse_duplicate_keys(loader: yaml.SafeLoader, node: yaml.MappingNode) -> None:
    """The mapping's own keys (merged ``<<`` ones may be overridden) must be distinct."""
    first_line: dict = {}
    for key_node, _ in node.value:
        if key_node.tag == MERGE:
            continue
        key = loader.construct_object(key_node, deep=True)
        try:
            hash(key)
        except TypeError:
            continue              # an unhashable key fails in PyYAML's own construction
        line = key_node.start_mark.line + 1
        if key in first_line:
            raise ConstructorError(None, None, f"duplicate key {key!r} at lines {first_line[key]} "
                                   f"and {line} (each key once per mapping)", key_node.start_mark)
        first_line[key] = line


def _core_schema_resolvers() -> dict:
    """SafeLoader's implicit resolvers with YAML 1.1's bool, int, float, timestamp and value
    types replaced by the core schema's (null and merge kept)."""
    keep = {NULL, MERGE}
    table: dict = {}
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items():
        table[first] = [(tag, regexp) for tag, regexp in resolvers if tag in keep]
    for tag, regexp, firsts in CORE_RESOLVERS:
        for first in firsts:
            table.setdefault(first, []).append((tag, regexp))
    return table


def _construct_int(loader: yaml.SafeLoader, node: yaml.ScalarNode) -> int:
    """A core-schema integer: decimal (leading zeros allowed), 0o octal or 0x hex."""
    text = loader.construct_scalar(node)
    if text.startswith("0o"):
        return int(text[2:], 8)
    if text.startswith("0x"):
        return int(text[2:], 16)
    return int(text, 10)


_Loader.yaml_implicit_resolvers = _core_schema_resolvers()
_Loader.add_constructor(INT, _construct_int)


def load_yaml(stream):
    """Parse YAML (a string or a file) by the rules above; ``None`` for an empty document."""
    return yaml.load(stream, Loader=_Loader)
