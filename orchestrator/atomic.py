"""Result files replaced in one step, so that a reader (or a run killed mid-write) never sees
half of one: the text goes to a hidden temporary file beside the target, which ``os.replace``
then renames over it (atomic within one filesystem on POSIX). Checkpoints do the same for
whole directories (:mod:`orchestrator.checkpoint`).
"""
from __future__ import annotations

import json
import os
from pathlib import Path


def write_text(path: Path, text: str) -> None:
    """Replace ``path`` by ``text`` (UTF-8, line endings as given); on any error the old file
    is left as it was."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        tmp.write_text(text, encoding="utf-8", newline="")
        os.replace(tmp, path)
    finally:
        if tmp.exists():   # the write failed before the rename
            tmp.unlink()


def write_json(path: Path, data, **dumps) -> None:
    """Replace ``path`` by ``data`` as indented JSON (``dumps``: extra ``json.dumps`` arguments).
    The text is made before anything is written, so data that cannot be serialised leaves the
    old file as it was."""
    write_text(path, json.dumps(data, indent=2, **dumps))
