"""Experience replay on DeepMind Reverb: tables with signatures, writers, tf.data datasets."""
