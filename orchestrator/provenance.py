"""What made a run: ``provenance.json`` in every directory that train, simulate and report write.

The record holds the package version, the git commit of the source tree when it is a git
checkout (and whether it had uncommitted changes), the versions of the libraries that decide
the numbers (TensorFlow, TF-Agents, Reverb, NumPy, ...), the Python version and platform,
the full command line and the resolved configuration. Library versions are read from the
installed distributions' metadata (:mod:`importlib.metadata`), so writing a record never
imports TensorFlow.

A resumed run keeps the records of its earlier invocations: the newest record is at the top
level and the earlier ones, oldest first, under ``"previous"``.
"""
from __future__ import annotations

import json
import platform
import subprocess
import sys
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any

from lucas_abm import __version__
from orchestrator import atomic

FILE_NAME = "provenance.json"
#: Distributions whose versions are recorded (absent ones are recorded as None).
LIBRARIES = ("tensorflow", "tf-agents", "dm-reverb", "tensorflow-probability", "keras",
             "numpy", "scipy", "numba", "pandas")
_SOURCE_ROOT = Path(__file__).resolve().parent.parent


def library_versions(names: tuple[str, ...] = LIBRARIES) -> dict[str, str | None]:
    """{distribution name: installed version, or None if it is not installed}."""
    versions: dict[str, str | None] = {}
    for name in names:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def git_commit(root: Path = _SOURCE_ROOT) -> dict[str, Any] | None:
    """{"commit": sha, "dirty": bool} of the source tree, or None outside a git checkout."""
    if not (root / ".git").exists():
        return None
    try:
        sha = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True,
                             text=True, timeout=10, check=True).stdout.strip()
        status = subprocess.run(["git", "-C", str(root), "status", "--porcelain",
                                 "--untracked-files=no"], capture_output=True, text=True,
                                timeout=10, check=True).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    return {"commit": sha, "dirty": bool(status.strip())}


def provenance_record(config: dict[str, Any], argv: list[str] | None = None) -> dict[str, Any]:
    """The record for this process: versions, commit, command line and ``config``."""
    return {
        "package": "lucas-abm",
        "version": __version__,
        "git": git_commit(),
        "libraries": library_versions(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "command": list(sys.argv if argv is None else argv),
        "config": config,
        "written_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }


def write_provenance(out_dir: str | Path, config: dict[str, Any],
                     argv: list[str] | None = None) -> Path:
    """Write ``out_dir/provenance.json`` (keeping earlier invocations' records); return its path."""
    path = Path(out_dir) / FILE_NAME
    record = provenance_record(config, argv)
    if path.is_file():
        try:
            earlier = json.loads(path.read_text())
        except (OSError, ValueError):
            earlier = None
        if isinstance(earlier, dict):
            previous = earlier.pop("previous", [])
            record["previous"] = previous + [earlier]
    atomic.write_text(path, json.dumps(record, indent=2, default=str) + "\n")   # never half a file
    return path
