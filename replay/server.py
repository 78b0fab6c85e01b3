"""The Reverb server that holds the experience table: embedded or standalone.

* **Embedded** (default): the training process starts ``ReplayServer(tables)`` on a free
  port and its writer and dataset talk to ``localhost:PORT``.
* **Standalone** (``lucas-abm replay-server``): :func:`serve` builds the tables from a
  training config file and blocks in ``server.wait()``; collectors and learners in other
  processes connect to it. It is a small Python entry point because Reverb's own
  ``reverb_server`` console script drops table signatures.

The server listens on all interfaces **without authentication**: keep it on a private
network (inside Docker, an internal network; never publish the port beyond the host).

Checkpoints: with ``checkpoint_dir`` the server restores the latest checkpoint in
``checkpoint_dir/reverb/`` when it starts, and :meth:`ReplayServer.checkpoint` writes a new
one there (Reverb keeps only the newest). Restoring a checkpoint written under a different
table configuration can leave the rate limiter blocking inserts, so the table configuration
is stored beside them (``checkpoint_dir/tables.json``) and a mismatch raises ``ConfigError``
before the server starts. (It is not inside ``reverb/``: Reverb treats every entry there as a
checkpoint and would keep the JSON file as the "latest" one.)
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import reverb

from lucas_abm.errors import ConfigError
from replay.tables import ReplaySettings, load_replay_settings, make_experience_table

TABLES_FILE = "tables.json"
CHECKPOINTS = "reverb"


def table_fingerprint(table: reverb.Table) -> dict[str, Any]:
    """Everything about a table's configuration that a checkpoint must agree with."""
    info = table.info
    limiter = info.rate_limiter_info
    return {
        "name": info.name,
        "sampler": str(info.sampler_options).strip(),
        "remover": str(info.remover_options).strip(),
        "max_size": int(info.max_size),
        "max_times_sampled": int(info.max_times_sampled),
        "rate_limiter": {
            "samples_per_insert": float(limiter.samples_per_insert),
            "min_diff": float(limiter.min_diff),
            "max_diff": float(limiter.max_diff),
            "min_size_to_sample": int(limiter.min_size_to_sample),
        },
        "signature": {key: [spec.shape.as_list(), spec.dtype.name]
                      for key, spec in sorted((info.signature or {}).items())},
    }


def _has_checkpoint(directory: Path) -> bool:
    return directory.is_dir() and any(p.is_dir() for p in directory.iterdir())


class ReplayServer:
    """A Reverb server on ``localhost:PORT``; use as a context manager or call :meth:`close`.

    Call sequence::

        with ReplayServer([make_experience_table(signature, config)]) as server:
            writer = ExperienceWriter(server.client(), config.table, n_step)
            dataset = make_dataset(server.address, config.table, signature, batch_size)
    """

    def __init__(self, tables: list[reverb.Table], port: int | None = None,
                 checkpoint_dir: str | os.PathLike | None = None):
        if not tables:
            raise ConfigError("tables", "a non-empty list of reverb.Table", tables)
        if port is not None and (isinstance(port, bool) or not isinstance(port, int)
                                 or not 0 < port < 65536):
            raise ConfigError("port", "an integer in [1, 65535] or None (a free port)", port)
        checkpointer = None
        self.checkpoint_dir: Path | None = None
        if checkpoint_dir is not None:
            self.checkpoint_dir = Path(checkpoint_dir)
            self._check_checkpoint_tables(tables)
            checkpointer = reverb.checkpointers.DefaultCheckpointer(
                path=str(self.checkpoint_dir / CHECKPOINTS))
        self.tables = list(tables)
        self._server: reverb.Server | None = reverb.Server(
            tables=self.tables, port=port, checkpointer=checkpointer)
        self.port: int = self._server.port
        self.address: str = f"localhost:{self.port}"

    def _check_checkpoint_tables(self, tables: list[reverb.Table]) -> None:
        """Refuse to restore a checkpoint written under another table configuration."""
        wanted = [table_fingerprint(t) for t in tables]
        stored = self.checkpoint_dir / TABLES_FILE
        if _has_checkpoint(self.checkpoint_dir / CHECKPOINTS) and stored.exists():
            found = json.loads(stored.read_text())
            if found != wanted:
                raise ConfigError(
                    "checkpoint_dir", "a directory of checkpoints written with the same tables",
                    str(self.checkpoint_dir),
                    detail=f"its {TABLES_FILE} differs from the requested table configuration")
        (self.checkpoint_dir / CHECKPOINTS).mkdir(parents=True, exist_ok=True)
        stored.write_text(json.dumps(wanted, indent=2))

    def client(self) -> reverb.Client:
        """A new client of this server."""
        return reverb.Client(self.address)

    def checkpoint(self) -> str:
        """Write the table contents to a new checkpoint; return its path."""
        if self._server is None:
            raise RuntimeError("ReplayServer.checkpoint() called after close()")
        return self.client().checkpoint()

    def wait(self) -> None:
        """Block until the server is stopped (standalone mode)."""
        if self._server is not None:
            self._server.wait()

    def close(self) -> None:
        """Stop the server (idempotent)."""
        if self._server is not None:
            self._server.stop()
            self._server = None

    def __enter__(self) -> "ReplayServer":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self._server is None else self.address
        return f"ReplayServer({', '.join(t.name for t in self.tables)} @ {state})"


# ---------------------------------------------------------------------------- standalone
def serve(config_path: str | os.PathLike, port: int,
          checkpoint_dir: str | os.PathLike | None = None) -> None:
    """Standalone server: build the experience table from a config file and block."""
    serve_settings(load_replay_settings(config_path), port, checkpoint_dir)


def serve_settings(settings: ReplaySettings, port: int,
                   checkpoint_dir: str | os.PathLike | None = None) -> None:
    """Standalone server of the experience table that ``settings`` describe; blocks."""
    config = settings.replay
    server = ReplayServer([make_experience_table(settings.signature(), config)], port=port,
                          checkpoint_dir=checkpoint_dir)
    print(f"replay server: table {config.table!r} (N={settings.n_agents}, "
          f"D={settings.observation_dim}, n={settings.n_step}, capacity {config.capacity}, "
          f"min_size {config.min_size}) on port {server.port}", flush=True)
    try:
        server.wait()
    finally:
        server.close()


def serve_tables(tables: list[reverb.Table], port: int,
                 checkpoint_dir: str | os.PathLike | None = None) -> None:
    """Standalone server of the given tables (experience and weights); blocks."""
    server = ReplayServer(tables, port=port, checkpoint_dir=checkpoint_dir)
    info = server.client().server_info(timeout=10)
    sizes = ", ".join(f"{t.name} ({info[t.name].current_size} of {t.info.max_size} items)" for t in tables)
    print(f"replay server: tables {sizes} on port {server.port}", flush=True)
    try:
        server.wait()
    finally:
        server.close()
