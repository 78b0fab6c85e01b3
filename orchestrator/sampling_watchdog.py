"""A learner waiting for a batch from a replay server that is gone ends with exit code 4.

A sample stream that is already open when its server dies does not fail: Reverb's sampler
retries inside C++ until the server is back (measured: still waiting after 60 s, and after
200 s), where no Python exception or signal handler can reach it. Under the launcher or
compose the server comes back and the stream with it; in a run started by hand whose server
is gone for good the learner would wait for ever, against the rule of orchestrator.roles that
a role whose peer stays away ``peer_timeout`` seconds exits with code 4 and one line.

So while the learner samples (``with watchdog.armed(): learner.step()``) a daemon thread asks
the server for its info every ``period_s`` seconds on a channel of its own. If the server has
not answered for ``timeout_s`` seconds of the armed time, the thread writes the role's CPU
record (``on_exit``), prints one line naming the address and ends the process with
``os._exit(4)``: the main thread is inside the sampler and cannot be unwound. Nothing is lost
that a restart needs: checkpoints are written atomically and only between samples, and the
kernel drops the role's lock (orchestrator.role_lock).
"""
from __future__ import annotations

import contextlib
import os
import sys
import threading
import time
from typing import Callable


class SamplingWatchdog:
    """Ends the process (exit code 4) when the server stays away while the learner samples."""

    def __init__(self, address: str, timeout_s: float, role: str,
                 on_exit: Callable[[], object] = lambda: None, period_s: float = 1.0):
        self.address, self.timeout_s, self.role = address, float(timeout_s), role
        self.on_exit, self.period_s = on_exit, float(period_s)
        self._armed_since: float | None = None     # monotonic time the current wait began
        self._answered = 0.0                       # monotonic time of the server's last answer
        self._thread: threading.Thread | None = None

    @contextlib.contextmanager
    def armed(self):
        """Watch the server for the duration of the block (one learner step)."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._watch, name="sampling-watchdog", daemon=True)
            self._thread.start()
        self._armed_since = time.monotonic()
        try:
            yield self
        finally:
            self._armed_since = None

    def _watch(self) -> None:
        import reverb

        client = None
        while True:
            time.sleep(self.period_s)
            since = self._armed_since
            if since is None:
                continue
            try:
                client = client or reverb.Client(self.address)
                client.server_info(timeout=2)
                self._answered = time.monotonic()
            except Exception as err:  # noqa: BLE001 - down or restarting
                client = None         # a fresh channel next time (gRPC's back-off grows to minutes)
                silent = time.monotonic() - max(since, self._answered)
                if self._armed_since is not None and silent > self.timeout_s:
                    self._exit(err)

    def _exit(self, err: Exception) -> None:
        try:
            self.on_exit()
        finally:
            print(f"lucas-abm {self.role}: no replay server at {self.address} for "
                  f"{self.timeout_s:g} s while sampling ({type(err).__name__})",
                  file=sys.stderr, flush=True)
            sys.stdout.flush()
            os._exit(4)
