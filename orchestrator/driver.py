"""The training entry point kept for existing callers: ``Trainer`` is the one-process
composition of the roles (:class:`orchestrator.local.LocalTrainer`).

The roles themselves live in their own modules (see :mod:`orchestrator.core`):
:mod:`orchestrator.actor`, :mod:`orchestrator.learner`, :mod:`orchestrator.evaluator`,
:mod:`replay.server` and :mod:`replay.variables`; :mod:`orchestrator.local` wires them in one
process, :mod:`orchestrator.launch` as separate processes (``lucas-abm train --actors K``).
"""
from __future__ import annotations

from orchestrator.episode import (EVAL_SEED_OFFSET, SAMPLED_AGENTS, Economy, EpisodeRecord,  # noqa: F401
                                  episode_seed)
from orchestrator.local import LocalTrainer, TrainingDiverged  # noqa: F401

Trainer = LocalTrainer
