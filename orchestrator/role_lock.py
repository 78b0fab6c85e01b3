"""One process per role name in a run directory: ``OUT/locks/ROLE.lock``.

Two processes under one role name would write the same files: two ``actor-0`` append rows
with the same ``(actor, actor_episode)`` keys to ``OUT/actors/actor-0.jsonl`` (the coordinator
counts the first and drops the other's episodes), two evaluators write every evaluation twice,
and both overwrite the role's CPU record (orchestrator.cpu_record). So a role takes an
exclusive ``flock`` on its lock file before it does anything else, and a second process
under the same name stops at once with a one-line error and exit code 2 (which the launcher
does not retry).

The kernel drops the lock when the process ends, however it ends (``kill -9`` included), so
a restarted role (the launcher's restarts, compose's ``restart: on-failure``, ``--resume``)
takes it again at once. The file holds the holder's pid and host name, for the message; it
is left in place, since deleting a lock file races with the next holder.
"""
from __future__ import annotations

import fcntl
import os
import socket
from pathlib import Path

from lucas_abm.errors import ConfigError


class RoleLock:
    """Holds ``OUT/locks/ROLE.lock`` while a role runs (a context manager).

    ``field``, ``allowed`` and ``got`` word the error after the option that chose the role:
    by default ``--out`` (a run directory where no ROLE is running); an actor names
    ``--actor-id`` and a learner ``--shard``.
    """

    def __init__(self, out: Path, role: str, field: str = "--out", allowed: str | None = None,
                 got=None):
        self.path = Path(out) / "locks" / f"{role}.lock"
        self.role, self.field = role, field
        self.allowed = allowed or f"a run directory where no {role} is running"
        self.got = str(out) if got is None else got
        self._file = None

    def __enter__(self) -> "RoleLock":
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle = open(self.path, "a+")
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            handle.close()
            raise ConfigError(self.field, self.allowed, self.got,
                              detail=f"{self.role} is running: {holder} holds {self.path}") from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"pid {os.getpid()} on {socket.gethostname()}\n")
        handle.flush()
        self._file = handle
        return self

    def __exit__(self, *exc) -> None:
        if self._file is not None:
            self._file.close()          # closing the descriptor drops the lock
            self._file = None
