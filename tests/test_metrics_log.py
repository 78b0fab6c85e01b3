"""MetricsLog: float64 rows in CSV and JSON lines, float32 scalars in TensorBoard. A mean
period utility past float32's range (gamma 50 at the thesis' dividend: u ~ -2.9e64) stopped
`lucas-abm train` after its first episode with a ValueError from tf.summary.scalar."""
from __future__ import annotations

import math

import numpy as np
import tensorflow as tf
from tensorflow.python.summary.summary_iterator import summary_iterator

from orchestrator.metrics import MetricsLog, read_rows, tensorboard_scalar


def test_values_beyond_float32_reach_tensorboard_as_inf_and_the_csv_intact(tmp_path):
    writer = tf.summary.create_file_writer(str(tmp_path / "tb"))
    log = MetricsLog(tmp_path, "metrics", writer)
    log.write({"episode": 1, "mean_utility": -2.9151419523819526e64, "loss": 0.5})
    writer.flush()
    row, = read_rows(tmp_path / "metrics.jsonl")
    assert row["mean_utility"] == -2.9151419523819526e64          # float64 kept
    seen = {}
    for path in (tmp_path / "tb").iterdir():
        for event in summary_iterator(str(path)):
            for value in event.summary.value:
                seen[value.tag] = float(tf.make_ndarray(value.tensor))
    assert seen["metrics/mean_utility"] == -math.inf
    assert seen["metrics/loss"] == 0.5


def test_tensorboard_scalar():
    assert tensorboard_scalar(1e39) == np.inf and tensorboard_scalar(-1e300) == -np.inf
    assert tensorboard_scalar(3.0e38) == np.float32(3.0e38)
    assert tensorboard_scalar(7) == 7.0
