"""Run ``dvault ARGS`` with a directory remote's uploads slowed, as over a slow link: the
first upload goes at once, every later one waits ``DVAULT_TEST_UPLOAD_DELAY`` seconds
before it starts, or, with ``DVAULT_TEST_UPLOAD_GATE`` set, until that file exists (at most
60 s). A test interrupts the push while the later ones are waiting; the gate makes that
independent of how quickly the test itself gets the CPU.

Usage: ``python slow_upload.py ARGS...``."""

from __future__ import annotations

import os
import sys
import threading
import time
from pathlib import Path

from dvault.remote.backend import Progress
from dvault.remote.directory import DirectoryBackend

_original = DirectoryBackend.upload
_count = [0]
_lock = threading.Lock()


def _slow(self: DirectoryBackend, key: str, path: Path, progress: Progress | None = None) -> None:
    with _lock:
        _count[0] += 1
        first = _count[0] == 1
    gate = os.environ.get("DVAULT_TEST_UPLOAD_GATE")
    if not first and gate:
        deadline = time.monotonic() + 60
        while not Path(gate).exists() and time.monotonic() < deadline:
            time.sleep(0.02)
    elif not first:
        time.sleep(float(os.environ.get("DVAULT_TEST_UPLOAD_DELAY", "1")))
    _original(self, key, path, progress)


DirectoryBackend.upload = _slow  # type: ignore[method-assign]

if __name__ == "__main__":
    from dvault.cli import main

    main(sys.argv[1:])
