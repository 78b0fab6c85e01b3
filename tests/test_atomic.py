"""orchestrator/atomic.py: result files are replaced in one step, and a failed write leaves
the old file as it was (no half file, no temporary left behind)."""
from __future__ import annotations

import json

import pytest

from orchestrator.atomic import write_json, write_text


def test_write_json_replaces_the_file_and_leaves_no_temporary(tmp_path):
    path = tmp_path / "summary.json"
    write_json(path, {"episodes": 3})
    write_json(path, {"episodes": 4, "cpu_seconds": 1.5})
    assert json.loads(path.read_text()) == {"episodes": 4, "cpu_seconds": 1.5}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["summary.json"]


def test_data_that_cannot_be_serialised_leaves_the_old_file(tmp_path):
    path = tmp_path / "summary.json"
    write_json(path, {"episodes": 3})
    with pytest.raises(TypeError):
        write_json(path, {"episodes": object()})
    assert json.loads(path.read_text()) == {"episodes": 3}
    write_json(path, {"when": object()}, default=lambda o: "an object")   # json.dumps arguments pass through
    assert json.loads(path.read_text()) == {"when": "an object"}


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path):
    path = tmp_path / "processes.json"
    write_text(path, "old")
    with pytest.raises(UnicodeEncodeError):
        write_text(path, "\udcff")           # a lone surrogate: the temporary cannot be written
    assert path.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["processes.json"]
