"""Two dvault processes at once: writers are serialised by the repository lock."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable

from .helpers import Project, dvault_command, one_error_line

HOLD_LOCK = """
import sys, time
from pathlib import Path
from dvault.lock import writer_lock
with writer_lock(Path(sys.argv[1]), timeout=10):
    print("locked", flush=True)
    time.sleep(float(sys.argv[2]))
"""


def _spawn(
    project: Project, *args: str, env: dict[str, str] | None = None
) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [*dvault_command(), *args],
        cwd=project.root,
        env={**project.env, **(env or {})},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def _wait_for(condition: Callable[[], bool], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.002)


def test_concurrent_commits_are_serialised(tracked: Project) -> None:
    """Two `commit -a` at once both land, one after the other (second's parent is the first)."""
    base = tracked.head()
    with open(tracked.root / "data" / "big.bin", "wb") as f:  # makes the first commit slow
        for _ in range(96):
            f.write(os.urandom(1 << 20))
    first = _spawn(tracked, "commit", "-a", "-m", "first: big file")
    tmp = tracked.root / ".dvault" / "tmp"

    # once the first has its pack open it holds the lock and has scanned the workspace
    def storing() -> bool:
        return first.poll() is not None or any(tmp.glob(f"pack-{first.pid}-*"))

    _wait_for(storing)
    tracked.write("data/second.txt", "made while the first commit runs\n")
    second = _spawn(tracked, "commit", "-a", "-m", "second: small file")
    overlapped = first.poll() is None
    _out1, err1 = first.communicate(timeout=120)
    _out2, err2 = second.communicate(timeout=120)
    assert first.returncode == 0, err1.decode()
    assert second.returncode == 0, err2.decode()
    assert overlapped, "the first commit finished before the second started; test too weak"

    log = tracked.log()
    assert [e["message"] for e in log] == ["second: small file", "first: big file", "first"]
    assert log[2]["id"] == base
    assert log[1]["parents"] == [base]
    assert log[0]["parents"] == [log[1]["id"]]
    first_files = tracked.ok("show", f"{log[1]['id']}:data").out
    assert "big.bin" in first_files
    assert "second.txt" not in first_files
    assert "second.txt" in tracked.ok("show", "HEAD:data").out
    assert tracked.status()["clean"] is True


def _hold_lock(project: Project, seconds: float) -> subprocess.Popen[str]:
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_LOCK, str(project.root / ".dvault" / "lock"), str(seconds)],
        env=project.env,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout is not None
    assert holder.stdout.readline().strip() == "locked"
    return holder


def test_lock_timeout_fails_cleanly(tracked: Project) -> None:
    """With the lock held past DVAULT_LOCK_TIMEOUT, commit exits 3 naming the lock; no commit."""
    head = tracked.head()
    tracked.write("data/a.txt", "edited\n")
    holder = _hold_lock(tracked, 120.0)  # held until killed: a loaded machine cannot outlast it
    try:
        started = time.monotonic()
        result = tracked.run("commit", "-a", "-m", "blocked", env={"DVAULT_LOCK_TIMEOUT": "0.5"})
        elapsed = time.monotonic() - started
        assert result.code == 3, result.describe()
        assert "lock" in one_error_line(result)
        assert elapsed >= 0.5
        assert holder.poll() is None  # it really was the held lock that stopped it
    finally:
        holder.kill()
        holder.wait(timeout=30)
    assert tracked.head() == head
    assert tracked.status()["modified"] == ["data/a.txt"]


def test_commit_waits_for_lock_then_succeeds(tracked: Project) -> None:
    """A commit started while another process holds the lock waits for it, then commits."""
    tracked.write("data/a.txt", "edited\n")
    holder = _hold_lock(tracked, 1.0)
    started = time.monotonic()
    waiting = _spawn(tracked, "commit", "-a", "-m", "after the lock")
    _out, err = waiting.communicate(timeout=60)
    elapsed = time.monotonic() - started
    holder.wait(timeout=30)
    assert waiting.returncode == 0, err.decode()
    assert elapsed >= 0.8, f"commit did not wait for the lock ({elapsed:.2f}s)"
    assert tracked.log()[0]["message"] == "after the lock"


def test_readers_do_not_need_the_lock(tracked: Project) -> None:
    """status, log and show work while a writer holds the lock."""
    holder = _hold_lock(tracked, 120.0)  # held until killed: a loaded machine cannot outlast it
    try:
        fast = {"DVAULT_LOCK_TIMEOUT": "0.2"}
        readers = (
            ("log", "--oneline"),
            ("show", "HEAD:data/a.txt"),
            ("diff", "--json"),
            ("status",),
        )
        for args in readers:
            result = tracked.run(*args, env=fast)
            assert result.code == 0, result.describe()
        assert holder.poll() is None
    finally:
        holder.kill()
        holder.wait(timeout=30)
