"""Experience replay on DeepMind Reverb: tables with signatures, writers, tf.data datasets.

* :mod:`replay.signature` - the item schema (one n-step window of all N agents), derived
  from the market's observation spec;
* :mod:`replay.tables` - :class:`ReplayConfig` and the uniform/FIFO/MinSize table;
  reading the replay keys of a training config file;
* :mod:`replay.server` - :class:`ReplayServer` (embedded or standalone) and :func:`serve`;
* :mod:`replay.writer` - :class:`ExperienceWriter`: market steps in, window items out;
* :mod:`replay.dataset` - :func:`make_dataset`: batches for the learner.

Submodules are imported explicitly (``from replay.writer import ExperienceWriter``) so
that reading a config file does not start TensorFlow. See docs/replay.md.
"""
