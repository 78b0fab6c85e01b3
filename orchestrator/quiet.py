"""Keep the libraries' start-up and bookkeeping lines off the user's terminal (``--verbose`` keeps them).

Three sources write to the terminal on their own:

* TensorFlow's C++ runtime (``Unable to register cuDNN factory``, ``oneDNN custom operations``,
  CPU-feature notes): silenced by ``TF_CPP_MIN_LOG_LEVEL=3`` set before TensorFlow is imported,
  and its Python loggers (``tensorflow``, ``absl``) set to ERROR;
* Reverb's C++ server, which writes one ``[reverb/cc/...]`` line per checkpoint, start and
  stop straight to file descriptor 2: :func:`native_log_filter` points descriptor 2 at a
  small filter process that drops those lines and passes every other byte through (Python's
  own messages, tracebacks, the progress bar, any crash report of the native code), so
  nothing else is hidden; the filter outlives a crash of this process and flushes what it got;
* gRPC's C core (under Reverb), which dumps its own errors, e.g. a port in use, as one long
  line: ``GRPC_VERBOSITY=NONE``, since the command reports them in its own words.
"""
from __future__ import annotations

import contextlib
import logging
import os
import subprocess
import sys
from typing import Iterator

#: A line holding this marker is dropped from it to its end by :func:`native_log_filter`.
DROPPED_MARKER = b"[reverb/cc/"

# The filter process: bytes pass through as they come (a progress bar's carriage-return
# updates are not held back); from the marker to the end of its line is dropped.
_FILTER = f"""
import os, signal
# Ctrl-C and SIGTERM are for the command, and reach this filter too when the whole process
# group is signalled (a terminal, `timeout`, `kill -- -PGID`, a batch scheduler): read on to
# the end, so the command's last lines (its stop message) still reach the terminal
for s in (signal.SIGINT, signal.SIGTERM):
    signal.signal(s, signal.SIG_IGN)
marker = {DROPPED_MARKER!r}
buf = b""
while True:
    try:
        chunk = os.read(0, 65536)
    except OSError:
        break
    if not chunk:
        break
    buf += chunk
    out = []
    while True:
        i = buf.find(marker)
        if i < 0:
            keep = next((k for k in range(min(len(marker) - 1, len(buf)), 0, -1)
                         if marker.startswith(buf[-k:])), 0)
            out.append(buf[:len(buf) - keep])
            buf = buf[len(buf) - keep:]
            break
        out.append(buf[:i])
        j = buf.find(b"\\n", i)
        if j < 0:
            buf = buf[i:]
            break
        buf = buf[j + 1:]
    data = b"".join(out)
    try:
        while data:
            data = data[os.write(1, data):]
    except OSError:  # the terminal went away: keep draining so the command never blocks
        pass
if buf and not buf.startswith(marker):
    try:
        os.write(1, buf)
    except OSError:
        pass
"""


def quiet_libraries() -> None:
    """TensorFlow's C++ and Python logging down to errors; call before TensorFlow is imported."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    os.environ.setdefault("GRPC_VERBOSITY", "NONE")   # gRPC's own error dump (a port in use, ...)
    for name in ("tensorflow", "absl"):
        logging.getLogger(name).setLevel(logging.ERROR)
    try:
        import absl.logging
    except ImportError:  # pragma: no cover - absl comes with TensorFlow
        return
    absl.logging.set_verbosity(absl.logging.ERROR)


@contextlib.contextmanager
def native_log_filter() -> Iterator[None]:
    """Inside the block, descriptor 2 goes through a filter that drops Reverb's log lines
    (from :data:`DROPPED_MARKER` to the end of its line) and passes everything else."""
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):  # no usable descriptor 2: nothing to filter
        yield
        return
    try:
        proc = subprocess.Popen([sys.executable, "-c", _FILTER], stdin=subprocess.PIPE,
                                stdout=saved, stderr=saved, close_fds=True)
    except OSError:
        os.close(saved)
        yield
        return
    os.dup2(proc.stdin.fileno(), 2)
    try:
        yield
    finally:
        try:
            sys.stderr.flush()
        except (OSError, ValueError):
            pass
        os.dup2(saved, 2)
        os.close(saved)
        proc.stdin.close()
        proc.wait(timeout=30)
