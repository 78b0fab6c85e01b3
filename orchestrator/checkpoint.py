"""Atomic checkpoints of a training run.

A checkpoint is a directory ``ckpt-EEEEEE`` (E = completed episodes) holding
``tf.*`` (networks and optimizer, ``tf.train.Checkpoint``), ``state.pkl`` (counters, RNG
states, market state, evaluation history) and ``config.yaml``. It is written under a
temporary name and renamed into place, then the one-line file ``latest`` is replaced
atomically (``os.replace``): a run killed at any moment leaves either the previous or the new
checkpoint complete, never a half-written one. The two most recent checkpoints are kept.
"""
from __future__ import annotations

import os
import pickle
import shutil
import tempfile
from pathlib import Path
from typing import Any

import tensorflow as tf
import yaml

LATEST = "latest"


class CheckpointManager:
    def __init__(self, directory: str | Path, keep: int = 2):
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.keep = keep

    def latest(self) -> Path | None:
        """The newest complete checkpoint, or None."""
        pointer = self.directory / LATEST
        if not pointer.is_file():
            return None
        path = self.directory / pointer.read_text().strip()
        return path if (path / "state.pkl").is_file() else None

    def save(self, episode: int, tf_objects: dict[str, Any], state: dict, config: dict,
             extra_dirs: dict[str, Path] | None = None) -> Path:
        """Write checkpoint ``ckpt-{episode}`` atomically and point ``latest`` at it.

        ``extra_dirs`` maps a name to a directory that is moved into the checkpoint (e.g. the
        replay buffer's own checkpoint).
        """
        name = f"ckpt-{episode:06d}"
        final = self.directory / name
        tmp = Path(tempfile.mkdtemp(prefix=f".{name}-", dir=self.directory))
        tf.train.Checkpoint(**tf_objects).write(str(tmp / "tf"))
        with open(tmp / "state.pkl", "wb") as fh:
            pickle.dump(state, fh)
        (tmp / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
        for key, src in (extra_dirs or {}).items():
            shutil.move(str(src), str(tmp / key))
        _fsync_dir(tmp)
        if final.exists():
            shutil.rmtree(final)
        os.replace(tmp, final)
        pointer_tmp = self.directory / f".{LATEST}.tmp"
        pointer_tmp.write_text(name + "\n")
        os.replace(pointer_tmp, self.directory / LATEST)
        _fsync_dir(self.directory)
        self._prune(final)
        return final

    def restore(self, path: Path, tf_objects: dict[str, Any]) -> dict:
        """Load networks/optimizer into ``tf_objects``; return the pickled state."""
        tf.train.Checkpoint(**tf_objects).read(str(path / "tf")).assert_existing_objects_matched()
        with open(path / "state.pkl", "rb") as fh:
            return pickle.load(fh)

    def _prune(self, current: Path) -> None:
        ckpts = sorted(p for p in self.directory.glob("ckpt-*") if p.is_dir())
        for old in ckpts[:-self.keep]:
            if old != current:
                shutil.rmtree(old, ignore_errors=True)
        for stale in self.directory.glob(".ckpt-*"):  # temp dirs of a killed run
            shutil.rmtree(stale, ignore_errors=True)


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
