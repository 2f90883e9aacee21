"""The repository writer lock: commands that change the repository run one at a time.

An advisory ``flock`` on ``.dvault/lock``: the kernel drops it when the holder dies, even
by kill -9, so a crash never leaves a stale lock behind. A second writer waits, polling,
up to a timeout (``DVAULT_LOCK_TIMEOUT`` seconds, default 60) and then fails clearly.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import time
from collections.abc import Iterator
from pathlib import Path

from dvault.errors import LockTimeout

DEFAULT_TIMEOUT = 60.0


def _timeout() -> float:
    try:
        return float(os.environ.get("DVAULT_LOCK_TIMEOUT", DEFAULT_TIMEOUT))
    except ValueError:
        return DEFAULT_TIMEOUT


@contextlib.contextmanager
def writer_lock(path: Path, timeout: float | None = None) -> Iterator[None]:
    limit = _timeout() if timeout is None else timeout
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        deadline = time.monotonic() + limit
        delay = 0.005
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "?"
                    raise LockTimeout(
                        f"repository is locked by another dvault process (pid {holder}); "
                        f"gave up after {limit:g}s (set DVAULT_LOCK_TIMEOUT to wait longer)"
                    ) from None
                time.sleep(delay)
                delay = min(delay * 2, 0.1)
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)
