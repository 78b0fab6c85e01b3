"""Batches of n-step windows for the learner, as a ``tf.data.Dataset``.

Each element is a dict with the table signature's keys and a leading batch axis::

    observation [B, n+1, N, D] float32, tree_action [B, n, N] int32,
    bond_action [B, n, N] int32,        reward      [B, n, N] float32

exactly the arguments of ``EnsembleDQN.train_step``. Items are drawn uniformly from the
table (with replacement). If no item can be sampled within ``rate_limiter_timeout_ms`` (the
table holds fewer than ``min_size`` items and nobody is writing) Reverb ends the stream;
this dataset then raises ``tf.errors.InvalidArgumentError`` ("replay: no sample ...")
instead of hanging or silently stopping.
"""
from __future__ import annotations

import reverb
import tensorflow as tf

from lucas_abm.errors import ConfigError


def _specs_equal(a: dict, b: dict) -> bool:
    return set(a) == set(b) and all(
        a[k].shape.as_list() == b[k].shape.as_list() and a[k].dtype == b[k].dtype for k in a)


def _timed_out(signature: dict, table: str, timeout_ms: int) -> tf.data.Dataset:
    """One element that fails when produced: appended after Reverb's (infinite) stream."""
    message = (f"replay: no sample from table {table!r} within rate_limiter_timeout_ms="
               f"{timeout_ms} (fewer than min_size items and no writer?)")

    def fail(i):
        check = tf.debugging.Assert(tf.less(i, 0), [message])
        with tf.control_dependencies([check]):
            return {k: tf.zeros(s.shape, s.dtype) for k, s in signature.items()}

    return tf.data.Dataset.range(1).map(fail)


def make_dataset(address: str, table: str, signature: dict, batch_size: int, *,
                 rate_limiter_timeout_ms: int = 60_000, prefetch: int = 1) -> tf.data.Dataset:
    """Uniform batches of ``batch_size`` items from ``table`` at ``address``.

    ``signature`` is what the learner expects; it must equal the table's signature on the
    server (checked here, so a learner built for another N, D or n fails at once).
    """
    for name, value, low in (("batch_size", batch_size, 1), ("prefetch", prefetch, 0),
                             ("rate_limiter_timeout_ms", rate_limiter_timeout_ms, 1)):
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise ConfigError(name, f"an integer >= {low}", value)
    reverb_dataset = reverb.TrajectoryDataset.from_table_signature(
        server_address=address, table=table,
        max_in_flight_samples_per_worker=2 * batch_size,
        rate_limiter_timeout_ms=rate_limiter_timeout_ms,
        get_signature_timeout_secs=max(1, rate_limiter_timeout_ms // 1000))
    served = reverb_dataset.element_spec.data
    if not _specs_equal(served, signature):
        raise ConfigError("signature", f"the signature of table {table!r} at {address}: "
                          + ", ".join(f"{k} {served[k].dtype.name}{served[k].shape.as_list()}"
                                      for k in sorted(served)),
                          ", ".join(f"{k} {signature[k].dtype.name}{signature[k].shape.as_list()}"
                                    for k in sorted(signature)))
    dataset = reverb_dataset.map(lambda sample: sample.data)
    dataset = dataset.concatenate(_timed_out(signature, table, rate_limiter_timeout_ms))
    dataset = dataset.batch(batch_size, drop_remainder=True)
    return dataset.prefetch(prefetch) if prefetch else dataset
