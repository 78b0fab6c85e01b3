"""Weights through Reverb: a table of one item that the learner overwrites and actors read.

As TF-Agents' ``ReverbVariableContainer``: a table with ``max_size=1`` (FIFO remover, so each
publish replaces the last), a Uniform sampler (sampling never removes the item), a
``MinSize(1)`` rate limiter (a reader waits only for the very first publish) and a signature.
The item holds two tensors::

    weights  [P] float32    every published variable, flattened and concatenated in order
    meta     [6] int64      version (learner updates), episodes (completed), stop (0/1),
                           shard, owed (updates the learner is behind its pace) and
                           inserts (the experience table's insert count it had seen)

One flat vector instead of one tensor per variable keeps the table's signature independent of
the learning rule's variable names (DQN, TD3 or a shard of either all publish the same way);
readers know the shapes because they build the same networks from the same config.

Every wait has a timeout: a reader raises :class:`PeerUnavailable` with the server's address
when nothing can be read in ``timeout_s`` (no server, or no learner has published yet).
"""
from __future__ import annotations

import threading
import time
from typing import Callable, Sequence, TypeVar

import numpy as np

META_FIELDS = ("version", "episodes", "stop", "shard", "owed", "inserts")
T = TypeVar("T")


class PeerUnavailable(RuntimeError):
    """A Reverb peer did not answer within its timeout."""


def weights_table_name(shard: int = 0) -> str:
    return "weights" if shard == 0 else f"weights-{shard}"


def variables_signature(size: int) -> dict:
    import tensorflow as tf

    return {"weights": tf.TensorSpec([size], tf.float32, name="weights"),
            "meta": tf.TensorSpec([len(META_FIELDS)], tf.int64, name="meta")}


def make_variable_table(name: str, size: int):
    """The weights table: max_size 1, FIFO (a publish replaces the item), MinSize(1), signature."""
    import reverb

    return reverb.Table(name=name, sampler=reverb.selectors.Uniform(), remover=reverb.selectors.Fifo(),
                        max_size=1, rate_limiter=reverb.rate_limiters.MinSize(1),
                        signature=variables_signature(size))


def flat_size(shapes: Sequence[Sequence[int]]) -> int:
    return int(sum(int(np.prod(s)) for s in shapes))


def call_with_timeout(fn: Callable[[], T], timeout_s: float, what: str) -> T:
    """Run ``fn`` in a daemon thread; raise PeerUnavailable(what) if it has not returned in time.

    For Reverb calls that take no timeout of their own (``Client.sample``)."""
    box: dict = {}

    def target():
        try:
            box["value"] = fn()
        except BaseException as err:  # noqa: BLE001 - re-raised in the caller
            box["error"] = err

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(timeout_s)
    if thread.is_alive():
        raise PeerUnavailable(f"{what}: no answer within {timeout_s:g} s")
    if "error" in box:
        raise box["error"]
    return box["value"]


class VariablePublisher:
    """The learner's side: ``publish(arrays, version=..., episodes=..., stop=...)``."""

    def __init__(self, address: str, table: str, timeout_s: float = 60.0, shard: int = 0):
        self.address, self.table, self.timeout_s, self.shard = address, table, timeout_s, shard
        self._writer = None

    def publish(self, arrays: Sequence[np.ndarray], version: int, episodes: int = 0, stop: int = 0,
                owed: int = 0, inserts: int = 0) -> None:
        import reverb

        flat = np.concatenate([np.asarray(a, np.float32).ravel() for a in arrays])
        meta = np.array([version, episodes, stop, self.shard, owed, inserts], np.int64)

        def write(writer):
            if writer is None:
                writer = reverb.Client(self.address).trajectory_writer(num_keep_alive_refs=1)
            writer.append({"weights": flat, "meta": meta})
            writer.create_item(self.table, 1.0, {"weights": writer.history["weights"][-1],
                                                 "meta": writer.history["meta"][-1]})
            writer.flush(timeout_ms=int(self.timeout_s * 1000))
            return writer

        try:
            # Opening a stream to a dead server blocks with no timeout of its own: bound it all.
            # A stream is kept only from a publish that completed in time.
            writer, self._writer = self._writer, None
            self._writer = call_with_timeout(lambda: write(writer), self.timeout_s + 1.0,
                                             f"replay server at {self.address}")
        except Exception as err:
            self._writer = None    # a restarted server needs a new stream
            raise PeerUnavailable(f"replay server at {self.address}: cannot publish weights "
                                  f"({type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''})") from err

    def close(self) -> None:
        if self._writer is not None:
            try:
                self._writer.close()
            except Exception:  # noqa: BLE001 - closing a stream to a dead server
                pass
            self._writer = None


class VariableClient:
    """Actors' and evaluators' side (a :class:`orchestrator.core.VariableSource`)."""

    def __init__(self, address: str, table: str, shapes: Sequence[Sequence[int]] | None):
        """``shapes=None``: a reader of the metadata only (the weights come back flat)."""
        self.address, self.table = address, table
        self.shapes = None if shapes is None else [tuple(s) for s in shapes]
        self.size = None if shapes is None else flat_size(self.shapes)
        self._client = None

    def get_variables(self, timeout_s: float) -> tuple[list[np.ndarray], dict[str, int]]:
        """The newest weights, unflattened to ``shapes``, and their metadata."""
        import reverb

        deadline = time.monotonic() + timeout_s
        if self._client is None:
            self._client = reverb.Client(self.address)
        client = self._client
        what = f"replay server at {self.address}, table {self.table!r}"
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise PeerUnavailable(f"{what}: no weights within {timeout_s:g} s (is the replay "
                                      "server up and has a learner published?)")
            try:
                info = call_with_timeout(lambda: client.server_info(timeout=max(1, int(left))), left + 1, what)
                if info[self.table].current_size >= 1:
                    sample = call_with_timeout(lambda: next(client.sample(
                        self.table, 1, emit_timesteps=False, unpack_as_table_signature=True)), left + 1, what)
                    break
            except PeerUnavailable:
                self._client = None
                raise
            except Exception:  # noqa: BLE001 - server down or restarting: retry until the deadline
                self._client = client = reverb.Client(self.address)   # fresh channel, no back-off
            time.sleep(min(0.5, max(0.0, deadline - time.monotonic())))
        flat, meta = np.asarray(sample.data["weights"]), np.asarray(sample.data["meta"])
        if self.shapes is None:
            return [flat], dict(zip(META_FIELDS, (int(m) for m in meta)))
        if flat.size != self.size:
            raise ValueError(f"{what}: {flat.size} weights published, this model has {self.size}")
        arrays, at = [], 0
        for shape in self.shapes:
            n = int(np.prod(shape))
            arrays.append(flat[at:at + n].reshape(shape))
            at += n
        return arrays, dict(zip(META_FIELDS, (int(m) for m in meta)))
