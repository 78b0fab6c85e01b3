"""The learner: samples n-step windows from Reverb, updates the ensemble, publishes weights.

One step::

    batch = next(dataset)                  # [B, n+1, N, D] windows, uniform from the table
    metrics = algorithm.train_step(batch)  # one update of every agent's networks
    if not finite(metrics): raise NonFiniteUpdate     # never publish or save a broken net

A stream that breaks, or cannot be opened (the server is down or restarting), raises
:class:`SamplingFailed`; the next step opens a fresh one.

``publish`` hands ``algorithm.variables`` to a publisher (:mod:`replay.variables` between
processes; nothing in one process, where actors act with the learner's own networks).
"""
from __future__ import annotations

import math
from typing import Callable, Iterator

import reverb
import tensorflow as tf


class SamplingFailed(RuntimeError):
    """No batch from the replay stream: it broke mid-read (a ``tf.errors.OpError``), or it
    could not be opened (a ``reverb.errors.ReverbError``, e.g. the server is restarting)."""


class NonFiniteUpdate(RuntimeError):
    """A loss or a network weight became NaN or infinite."""

    def __init__(self, metrics: dict, updates: int):
        self.metrics, self.updates = metrics, updates
        self.what = "loss" if not math.isfinite(metrics["loss"]) else "network weight"
        super().__init__(f"non-finite {self.what} at update {updates} (loss={metrics['loss']}, "
                         f"max|w|={metrics['max_weight']})")


class EnsembleLearner:
    """Wraps an :class:`~orchestrator.core.Algorithm` with a replay dataset and a publisher."""

    def __init__(self, algorithm, make_iterator: Callable[[], Iterator], publisher=None):
        self.algorithm = algorithm
        self._make_iterator = make_iterator
        self._iterator: Iterator | None = None
        self.publisher = publisher
        self.updates = 0

    @property
    def started(self) -> bool:
        return self._iterator is not None

    def reset_dataset(self) -> None:
        """Drop the sample stream (after the replay server restarted); the next step reconnects."""
        self._iterator = None

    def step(self) -> dict[str, float]:
        if self._iterator is None:
            try:
                self._iterator = self._make_iterator()
            # opening reads the table's signature (Reverb's client.server_info), which raises a
            # bare RuntimeError ("Connection reset by peer") when the server dies mid-call
            except (tf.errors.OpError, reverb.errors.ReverbError, RuntimeError) as err:
                raise SamplingFailed(f"sampling failed ({type(err).__name__}: {err})") from err
        try:
            batch = next(self._iterator)
        except (tf.errors.OpError, reverb.errors.ReverbError) as err:
            self._iterator = None          # the next step opens a fresh stream
            raise SamplingFailed(f"sampling failed ({type(err).__name__}: {err})") from err
        metrics = self.algorithm.train_step(batch)
        self.updates += 1
        if not (math.isfinite(metrics["loss"]) and math.isfinite(metrics["max_weight"])):
            raise NonFiniteUpdate(metrics, self.updates)
        return metrics

    def episode_metrics(self) -> dict[str, float]:
        """What the rule reports once per training episode beside the loss (a rule's optional
        ``episode_metrics()``; the adaptive valuers' estimates), {} for the network rules."""
        report = getattr(self.algorithm, "episode_metrics", None)
        return dict(report()) if report is not None else {}

    def publish(self, **meta: int) -> None:
        """Weights out, with ``version`` = updates so far and the caller's metadata."""
        if self.publisher is not None:
            self.publisher.publish([v.numpy() for v in self.algorithm.variables],
                                   version=self.updates, **meta)
