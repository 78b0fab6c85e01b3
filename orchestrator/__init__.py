"""The training loop: driver, learners, checkpoints, configs and the ``lucas-abm`` CLI."""
