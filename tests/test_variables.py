"""Weights through Reverb (replay/variables.py) on a real in-process server: the table's
one-item FIFO behaviour, exact round trips of the flattened weights and their metadata,
shape checks, and the timeouts that turn a silent peer into :class:`PeerUnavailable`.

The distributed tests (tests/test_distributed.py) exercise the same code in real processes;
these are the fast, in-process cases (a few seconds) that the mutation runs use.
"""
from __future__ import annotations

import time

import numpy as np
import portpicker
import pytest
import tensorflow as tf

from replay.server import ReplayServer
from replay.variables import (META_FIELDS, PeerUnavailable, VariableClient, VariablePublisher,
                              call_with_timeout, flat_size, make_variable_table,
                              variables_signature, weights_table_name)

SHAPES = [(2, 3), (3,), (1, 1, 2)]       # 6 + 3 + 2 = 11 weights


def arrays(offset: float) -> list[np.ndarray]:
    """Weights whose values name their position: offset + 0, 1, ..., 10 in flat order."""
    flat = offset + np.arange(11, dtype=np.float32)
    return [flat[:6].reshape(2, 3), flat[6:9], flat[9:].reshape(1, 1, 2)]


@pytest.fixture(scope="module")
def server():
    with ReplayServer([make_variable_table(weights_table_name(0), 11),
                       make_variable_table(weights_table_name(3), 11),
                       make_variable_table("empty", 11)]) as srv:
        yield srv


def test_table_names_sizes_and_signature():
    assert weights_table_name(0) == "weights"
    assert weights_table_name(1) == "weights-1"
    assert weights_table_name(12) == "weights-12"
    assert flat_size(SHAPES) == 11
    assert flat_size([(50, 50), (1, 50), ()]) == 2_551
    assert isinstance(flat_size([(2,)]), int)
    sig = variables_signature(11)
    assert META_FIELDS == ("version", "episodes", "stop", "shard", "owed", "inserts")
    assert sig["weights"] == tf.TensorSpec([11], tf.float32, name="weights")
    assert sig["meta"] == tf.TensorSpec([6], tf.int64, name="meta")
    table = make_variable_table("w", 11)
    info = table.info
    assert info.max_size == 1
    assert info.rate_limiter_info.min_size_to_sample == 1
    assert "fifo" in str(info.remover_options).lower()
    assert "uniform" in str(info.sampler_options).lower()


def test_publish_round_trips_weights_and_metadata_exactly(server):
    publisher = VariablePublisher(server.address, "weights-3", timeout_s=5.0, shard=3)
    publisher.publish(arrays(100.0), version=7, episodes=21, stop=1, owed=4, inserts=1234)
    reader = VariableClient(server.address, "weights-3", SHAPES)
    assert reader.size == 11 and reader.shapes == [(2, 3), (3,), (1, 1, 2)]
    got, meta = reader.get_variables(timeout_s=5.0)
    assert meta == {"version": 7, "episodes": 21, "stop": 1, "shard": 3, "owed": 4, "inserts": 1234}
    assert [a.shape for a in got] == SHAPES
    for a, b in zip(got, arrays(100.0)):
        np.testing.assert_array_equal(a, b)
        assert a.dtype == np.float32
    # defaults: episodes, stop, owed and inserts 0
    publisher.publish(arrays(0.0), version=8)
    _, meta = reader.get_variables(timeout_s=5.0)
    assert meta == {"version": 8, "episodes": 0, "stop": 0, "shard": 3, "owed": 0, "inserts": 0}
    publisher.close()
    assert publisher._writer is None
    publisher.close()                       # idempotent


def test_each_publish_replaces_the_last_and_reading_removes_nothing(server):
    publisher = VariablePublisher(server.address, "weights", timeout_s=5.0)
    reader = VariableClient(server.address, "weights", SHAPES)
    for version in range(1, 4):
        publisher.publish(arrays(10.0 * version), version=version)
        assert server.client().server_info()["weights"].current_size == 1
    for _ in range(3):                       # a read leaves the item for the next reader
        got, meta = reader.get_variables(timeout_s=5.0)
        assert meta["version"] == 3 and meta["shard"] == 0
        np.testing.assert_array_equal(np.concatenate([a.ravel() for a in got]),
                                      30.0 + np.arange(11, dtype=np.float32))
    # a short deadline is enough when the weights are there: a new client reads at once
    # (no failed first try and retry), each wait gets what is left plus 1 s
    got, meta = VariableClient(server.address, "weights", SHAPES).get_variables(timeout_s=0.3)
    assert meta["version"] == 3 and got[2][0, 0, 1] == 40.0
    flat_reader = VariableClient(server.address, "weights", None)
    assert flat_reader.size is None and flat_reader.shapes is None
    (flat,), meta = flat_reader.get_variables(timeout_s=5.0)
    np.testing.assert_array_equal(flat, 30.0 + np.arange(11, dtype=np.float32))
    assert meta["version"] == 3
    publisher.close()


def test_a_model_of_another_size_is_refused_with_both_sizes(server):
    VariablePublisher(server.address, "weights", timeout_s=5.0).publish(arrays(0.0), version=1)
    reader = VariableClient(server.address, "weights", [(2, 3), (3,)])
    with pytest.raises(ValueError, match=r"table 'weights': 11 weights published, this model has 9"):
        reader.get_variables(timeout_s=5.0)


def test_no_publish_yet_raises_peer_unavailable_after_the_timeout(server):
    reader = VariableClient(server.address, "empty", SHAPES)
    start = time.monotonic()
    with pytest.raises(PeerUnavailable, match=rf"replay server at {server.address}, table 'empty': "
                                              r"no weights within 0.7 s \(is the replay"):
        reader.get_variables(timeout_s=0.7)
    assert 0.6 <= time.monotonic() - start < 3.0
    # the same client still reads once something is published
    VariablePublisher(server.address, "empty", timeout_s=5.0).publish(arrays(1.0), version=2)
    got, meta = reader.get_variables(timeout_s=5.0)
    assert meta["version"] == 2 and got[0][0, 0] == 1.0


def test_a_dead_server_is_peer_unavailable_for_the_reader():
    address = f"localhost:{portpicker.pick_unused_port()}"
    reader = VariableClient(address, "weights", SHAPES)
    start = time.monotonic()
    with pytest.raises(PeerUnavailable, match=rf"replay server at {address}, table 'weights'"):
        reader.get_variables(timeout_s=1.0)     # retried with fresh channels until the deadline
    assert time.monotonic() - start < 6.0


def test_a_dead_server_is_peer_unavailable_for_the_publisher():
    """Opening a stream to a dead address blocks inside Reverb; publish gives up after its
    timeout (+1 s) with PeerUnavailable naming the address, and a later publish opens a new stream."""
    address = f"127.0.0.1:{portpicker.pick_unused_port()}"
    publisher = VariablePublisher(address, weights_table_name(0), timeout_s=1.0)
    started = time.monotonic()
    with pytest.raises(PeerUnavailable, match=address):
        publisher.publish(arrays(0.0), version=1)
    assert time.monotonic() - started < 30.0
    assert publisher._writer is None


def test_call_with_timeout_returns_reraises_or_gives_up():
    assert call_with_timeout(lambda: 6 * 7, 5.0, "answer") == 42

    def fails():
        raise KeyError("inner")

    with pytest.raises(KeyError, match="inner"):
        call_with_timeout(fails, 5.0, "failing")
    start = time.monotonic()
    with pytest.raises(PeerUnavailable, match=r"^slow peer: no answer within 0.25 s$"):
        call_with_timeout(lambda: time.sleep(3.0), 0.25, "slow peer")
    assert 0.2 <= time.monotonic() - start < 1.5
