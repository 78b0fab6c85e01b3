"""orchestrator/quiet.py: Reverb's log lines are dropped from descriptor 2, everything else
(a progress bar's carriage-return updates included) passes through unchanged and in order."""
from __future__ import annotations

import subprocess
import sys
import textwrap


def test_filter_drops_reverb_lines_and_keeps_everything_else():
    code = textwrap.dedent('''
        import os, sys
        from orchestrator.quiet import native_log_filter
        with native_log_filter():
            os.write(2, b"\\rtraining:  33%|###")                     # no newline (tqdm)
            os.write(2, b"[reverb/cc/platform/default/server.cc:71] Started replay server\\n")
            os.write(2, b"\\rtraining:  67%|####")
            os.write(2, b"[reverb/cc/reverb_service_impl.cc:168] Stored ")  # split mid-line
            os.write(2, b"checkpoint to /tmp/x\\nTraceback (most recent call last):\\n")
            print("python warning", file=sys.stderr, flush=True)
            os.write(2, b"[reverb")                                   # a partial marker at the end
        print("after the block", file=sys.stderr)
    ''')
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stderr == (b"\rtraining:  33%|###\rtraining:  67%|####Traceback (most recent call last):\n"
                        b"python warning\n[reverbafter the block\n")
