"""The writer lock: one writer at a time across processes, and never stale after kill -9."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from dvault.errors import LockTimeout
from dvault.lock import writer_lock

HOLDER = """
import sys, time
from pathlib import Path
from dvault.lock import writer_lock
with writer_lock(Path(sys.argv[1]), timeout=5):
    print("locked", flush=True)
    time.sleep(float(sys.argv[2]))
"""


def start_holder(lock: Path, hold: float) -> subprocess.Popen[str]:
    """Start a process that takes the lock and holds it for ``hold`` seconds."""
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(lock), str(hold)],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "locked"
    return proc


@pytest.fixture
def procs() -> Iterator[list[subprocess.Popen[str]]]:
    """Child processes started by a test; killed (by pid) if the test leaves them running."""
    started: list[subprocess.Popen[str]] = []
    yield started
    for proc in started:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        if proc.stdout:
            proc.stdout.close()


def test_second_writer_times_out_naming_the_holder(
    tmp_path: Path, procs: list[subprocess.Popen[str]]
) -> None:
    """While another process holds the lock, a writer waits for the timeout and then fails
    with LockTimeout naming the holder's pid."""
    lock = tmp_path / "lock"
    holder = start_holder(lock, 30)
    procs.append(holder)
    start = time.monotonic()
    with pytest.raises(LockTimeout, match=rf"pid {holder.pid}\b"), writer_lock(lock, timeout=0.4):
        pytest.fail("acquired a lock held by another process")
    waited = time.monotonic() - start
    assert 0.4 <= waited < 3


def test_timeout_from_environment(
    tmp_path: Path, procs: list[subprocess.Popen[str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """DVAULT_LOCK_TIMEOUT sets the wait when no explicit timeout is given."""
    lock = tmp_path / "lock"
    procs.append(start_holder(lock, 30))
    monkeypatch.setenv("DVAULT_LOCK_TIMEOUT", "0.2")
    start = time.monotonic()
    with pytest.raises(LockTimeout), writer_lock(lock):
        pass
    assert time.monotonic() - start < 3


def test_waiter_gets_the_lock_when_holder_finishes(
    tmp_path: Path, procs: list[subprocess.Popen[str]]
) -> None:
    """A second writer waits (does not fail) and proceeds once the first one is done."""
    lock = tmp_path / "lock"
    holder = start_holder(lock, 0.6)
    procs.append(holder)
    start = time.monotonic()
    with writer_lock(lock, timeout=20):
        waited = time.monotonic() - start
        assert holder.wait(timeout=5) == 0  # the holder finished before we got in
        assert lock.read_text().strip() == str(os.getpid())
    assert 0.2 <= waited < 10


def test_lock_released_when_holder_is_killed(
    tmp_path: Path, procs: list[subprocess.Popen[str]]
) -> None:
    """kill -9 of the holder never leaves a stale lock: the next writer gets it promptly."""
    lock = tmp_path / "lock"
    holder = start_holder(lock, 60)
    procs.append(holder)
    with pytest.raises(LockTimeout), writer_lock(lock, timeout=0.1):
        pass
    os.kill(holder.pid, signal.SIGKILL)
    assert holder.wait(timeout=5) == -signal.SIGKILL
    start = time.monotonic()
    with writer_lock(lock, timeout=5):
        assert time.monotonic() - start < 1.0
        assert lock.read_text().strip() == str(os.getpid())


def test_lock_is_reusable_in_process(tmp_path: Path) -> None:
    """Releasing the lock (also by an exception) lets the next writer in immediately."""
    lock = tmp_path / "lock"
    with pytest.raises(ValueError), writer_lock(lock, timeout=0):
        raise ValueError("command failed")
    with writer_lock(lock, timeout=0):
        pass
