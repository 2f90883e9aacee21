"""Fault injection for the reliability suite: bit flips, a fault-injecting remote backend,
and small helpers to drive the real ``dvault`` command line.

The command line runs in-process (:func:`cli`: the same ``dvault.cli.main`` the console
script calls, exit code and all) where speed matters; in a long-lived child interpreter
(:class:`ProbeWorker`) where a fault could crash the process (a damaged LMDB file can make
the C library read past its end: SIGBUS must kill a child, not the test runner); and as
the real ``dvault`` program (:func:`cli_subprocess`) where separate processes are the
point (test_concurrency).

:class:`FaultyBackend` wraps a real :class:`~dvault.remote.backend.Backend` (kopia-style:
fault-injecting storage wrappers live beside the real ones) and fails, stalls, loses a
reply, returns a short read or "dies" at a chosen call.

Run as a script, this module is that child: ``serve`` answers :func:`probe` requests (one
JSON line each), ``commit-loop ROOT WORKER N`` is one committing worker of
test_concurrency.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import hashlib
import io
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from dvault.remote.backend import Backend, Progress, RemoteError

AUTHOR = "Fault Test <faults@example.com>"
PROPERTY = "reliability"
"""``record_property`` key whose values conftest.py prints in the terminal summary."""
DATA = "data"
"""The tracked root of every test project; manifests cover only this directory."""


# -- running dvault ---------------------------------------------------------------------


@dataclass
class Result:
    args: list[str]
    code: int
    out: str
    err: str

    def describe(self) -> str:
        return f"dvault {' '.join(self.args)} -> {self.code}\n{self.out}{self.err}".rstrip()


@functools.cache
def _click_command(app: Any) -> Any:
    import typer.main

    return typer.main.get_command(app)


def cli(root: Path, *args: str) -> Result:
    """Run ``dvault -C ROOT ARGS`` in this process through ``dvault.cli.main``, exactly as
    the console script does; a Python traceback (a dvault bug, not a clean error) is
    returned as exit code 99 with the traceback as stderr.

    Typer rebuilds its click command on every call (half the cost of a small command);
    the command built once from the same app is reused instead.
    """
    import traceback

    import dvault.cli

    app = dvault.cli.app
    out, err = io.StringIO(), io.StringIO()
    code = 0
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        dvault.cli.app = _click_command(app)
        try:
            dvault.cli.main(["-C", str(root), *args])
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        except Exception:
            code = 99
            err.write(traceback.format_exc())
        finally:
            dvault.cli.app = app
    return Result(list(args), code, out.getvalue(), err.getvalue())


def cli_ok(root: Path, *args: str) -> Result:
    result = cli(root, *args)
    assert result.code == 0, result.describe()
    return result


def dvault_command() -> list[str]:
    """The ``dvault`` console script next to this interpreter, else ``python -m dvault``."""
    script = Path(sys.executable).parent / "dvault"
    if script.is_file() and os.access(script, os.X_OK):
        return [str(script)]
    return [sys.executable, "-m", "dvault"]


def base_env(home: Path, lock_timeout: int = 120) -> dict[str, str]:
    """Environment for dvault child processes: fixed author, isolated HOME and git."""
    env = dict(os.environ)
    env.update(
        DVAULT_AUTHOR=AUTHOR,
        DVAULT_LOCK_TIMEOUT=str(lock_timeout),
        HOME=str(home),
        GIT_CONFIG_NOSYSTEM="1",
        GIT_CONFIG_GLOBAL=os.devnull,
        LC_ALL="C.UTF-8",
        PYTHONIOENCODING="utf-8",
    )
    env.pop("PYTHONWARNINGS", None)
    return env


def cli_subprocess(
    root: Path, *args: str, env: dict[str, str] | None = None, timeout: float = 120
) -> Result:
    """Run the real ``dvault`` program in ``root`` as a child process."""
    proc = subprocess.run(
        [*dvault_command(), *args],
        cwd=root,
        env=env,
        capture_output=True,
        timeout=timeout,
        check=False,
    )
    return Result(
        list(args),
        proc.returncode,
        proc.stdout.decode(errors="replace"),
        proc.stderr.decode(errors="replace"),
    )


# -- file contents ----------------------------------------------------------------------


def digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def manifest(root: Path) -> dict[str, str]:
    """Every file under ``root/data`` -> sha256 of its bytes."""
    top = root / DATA
    found: dict[str, str] = {}
    for dirpath, _dirs, files in os.walk(top):
        for name in files:
            path = Path(dirpath) / name
            found[path.relative_to(root).as_posix()] = digest(path.read_bytes())
    return found


def write_files(root: Path, files: dict[str, bytes]) -> None:
    for rel, data in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)


def commit_ids(root: Path) -> list[str]:
    """Every commit ``dvault log --json`` shows from HEAD, newest first."""
    return [c["id"] for c in json.loads(cli_ok(root, "log", "--json").out)]


@contextlib.contextmanager
def ram_dir(prefix: str) -> Iterator[Path]:
    """A scratch directory in RAM (``/dev/shm``) when there is one, else in the system
    temp directory. The bit-flip campaign is about what dvault reads back, not about
    durability, and on a busy disk its time goes to fsync."""
    base = "/dev/shm"
    parent = base if os.path.isdir(base) and os.access(base, os.W_OK) else None
    path = Path(tempfile.mkdtemp(prefix=prefix, dir=parent))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


# -- damage -----------------------------------------------------------------------------


def flip_bit(path: Path, offset: int, bit: int) -> None:
    """Invert one bit of a file in place (as a failing disk or cable would)."""
    os.chmod(path, 0o644)
    with open(path, "r+b") as f:
        f.seek(offset)
        byte = f.read(1)[0]
        f.seek(offset)
        f.write(bytes([byte ^ (1 << bit)]))


def truncate(path: Path, size: int) -> None:
    os.chmod(path, 0o644)
    os.truncate(path, size)


# -- checking a damaged repository --------------------------------------------------------


def probe(root: Path, expected: dict[str, dict[str, str]]) -> dict[str, Any]:
    """What a damaged repository does: both verify modes, then a forced checkout of every
    commit in ``expected`` (commit id -> manifest), recording any file whose bytes are not
    a version that was ever committed at that path (wrong data served)."""
    good: dict[str, set[str]] = {}
    for files in expected.values():
        for path, sha in files.items():
            good.setdefault(path, set()).add(sha)
    fast = cli(root, "verify")
    full = cli(root, "verify", "--read-data")
    restored: dict[str, bool] = {}
    wrong: list[str] = []
    errors: list[str] = []
    for commit, want in expected.items():
        result = cli(root, "checkout", "--force", commit)
        got = manifest(root)
        wrong += [f"{commit[:12]}:{p}" for p, sha in got.items() if sha not in good.get(p, ())]
        restored[commit] = result.code == 0 and got == want
        if result.code == 99:
            errors.append(result.describe())
    for result in (fast, full):
        if result.code == 99:
            errors.append(result.describe())
    return {
        "fast": fast.code,
        "full": full.code,
        "fast_err": fast.err.strip(),
        "full_err": full.err.strip(),
        "restored": restored,
        "wrong": wrong,
        "tracebacks": errors,
    }


class ProbeWorker:
    """Runs :func:`probe` in a long-lived child interpreter, so a crash in a C library (a
    damaged LMDB page can make it read out of bounds) cannot take the test runner down.
    A child that dies is reported as ``crashed`` and replaced on the next request."""

    def __init__(self) -> None:
        self.proc: subprocess.Popen[str] | None = None

    def _start(self) -> subprocess.Popen[str]:
        if self.proc is None or self.proc.poll() is not None:
            self.proc = subprocess.Popen(
                [sys.executable, __file__, "serve"],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                env={**os.environ, "DVAULT_AUTHOR": AUTHOR},
            )
        return self.proc

    def probe(self, root: Path, expected: dict[str, dict[str, str]]) -> dict[str, Any]:
        proc = self._start()
        assert proc.stdin is not None and proc.stdout is not None
        try:
            proc.stdin.write(json.dumps({"root": str(root), "expected": expected}) + "\n")
            proc.stdin.flush()
            line = proc.stdout.readline()
        except BrokenPipeError:
            line = ""
        if not line:
            code = proc.wait(timeout=30)
            stderr = proc.stderr.read() if proc.stderr is not None else ""
            self.proc = None
            return {"crashed": code, "stderr": stderr[-2000:]}
        result: dict[str, Any] = json.loads(line)
        return result

    def close(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            assert self.proc.stdin is not None
            self.proc.stdin.close()
            self.proc.wait(timeout=30)
        self.proc = None


# -- recording summaries ----------------------------------------------------------------


def record(record_property: Callable[[str, object], None], line: str) -> None:
    """Print a summary line and hand it to conftest.py's terminal summary."""
    print(line)
    record_property(PROPERTY, line)


def add_to_total(
    base: Path, group: str, part: str, counts: dict[str, int], parts: int
) -> Counter[str] | None:
    """Add one test's counts to its group's running total, shared by every xdist worker
    of this run; returns the sums once all ``parts`` tests of the group have reported
    (to the one test that completes the group), else None."""
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    shared = (base.parent if worker else base) / "dvault-reliability-totals"
    shared.mkdir(exist_ok=True)
    with open(shared / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        (shared / f"{group}.{part}.json").write_text(json.dumps(counts))
        done = sorted(shared.glob(f"{group}.*.json"))
        marker = shared / f"{group}.reported"
        if len(done) < parts or marker.exists():
            return None
        marker.touch()
        totals: Counter[str] = Counter()
        for path in done:
            totals.update(json.loads(path.read_text()))
        return totals


# -- a fault-injecting remote -------------------------------------------------------------

WRITES = ("create", "upload")
READS = ("read", "read_range", "download")
T = TypeVar("T")


@dataclass
class Fault:
    """What to break; calls are counted from 1, over every method.

    ``fail_call``: the k-th call raises RemoteError before reaching the remote.
    ``lose_reply``: the k-th call takes effect, then raises (a reply lost on the way back).
    ``stall_call``: the k-th call hangs for ``stall_s`` and then times out.
    ``short_read``: the k-th read (read, read_range, download) returns one byte short.
    ``die_after_writes``: after this many writes (create, upload) took effect, the remote
    "dies": every later call raises.
    """

    fail_call: int | None = None
    lose_reply: int | None = None
    stall_call: int | None = None
    stall_s: float = 0.02
    short_read: int | None = None
    die_after_writes: int | None = None

    def describe(self) -> str:
        parts = [f"{k}={v}" for k, v in self.__dict__.items() if v is not None and k != "stall_s"]
        return ", ".join(parts) or "no fault"

    @property
    def may_take_effect(self) -> bool:
        """Whether the failing call itself may have changed the remote."""
        return self.lose_reply is not None or self.die_after_writes is not None


class FaultyBackend(Backend):
    """A real backend with one fault injected (thread-safe: push uploads and fetch reads
    from several threads). ``calls`` lists every call that reached the wrapper,
    ``injected`` what was done to them."""

    def __init__(self, inner: Backend, fault: Fault | None = None) -> None:
        self.inner = inner
        self.url = inner.url
        self.fault = fault or Fault()
        self.calls: list[tuple[str, str]] = []
        self.reads = 0
        self.writes = 0
        self.injected: list[str] = []
        self.dead = self.fault.die_after_writes == 0
        self._lock = threading.Lock()

    def describe(self) -> str:
        return self.inner.describe()

    def _call(self, method: str, key: str, action: Callable[[], T]) -> tuple[T, bool]:
        """Run one call with the fault applied; returns (result, cut this read short?)."""
        fault = self.fault
        with self._lock:
            self.calls.append((method, key))
            number = len(self.calls)
            if self.dead:
                self.injected.append(f"dead:{method}")
                raise RemoteError(f"remote {self.url}: connection refused ({method} {key})")
            short = False
            if method in READS:
                self.reads += 1
                short = self.reads == fault.short_read
            if number == fault.fail_call:
                self.injected.append(f"fail:{method}")
                raise RemoteError(f"remote {self.url}: connection reset ({method} {key})")
        if number == fault.stall_call:
            time.sleep(fault.stall_s)
            self.injected.append(f"stall:{method}")
            raise RemoteError(f"remote {self.url}: timed out ({method} {key})")
        result = action()
        with self._lock:
            if method in WRITES:
                self.writes += 1
                if self.writes == fault.die_after_writes:
                    self.dead = True
            if number == fault.lose_reply:
                self.injected.append(f"lost:{method}")
                raise RemoteError(f"remote {self.url}: no reply ({method} {key})")
        if short:
            self.injected.append(f"short:{method}")
        return result, short

    def create(self, key: str, data: bytes) -> None:
        self._call("create", key, lambda: self.inner.create(key, data))

    def upload(self, key: str, path: Path, progress: Progress | None = None) -> None:
        self._call("upload", key, lambda: self.inner.upload(key, path, progress))

    def read(self, key: str, limit: int) -> bytes:
        data, short = self._call("read", key, lambda: self.inner.read(key, limit))
        return data[:-1] if short and data else data

    def read_range(self, key: str, offset: int, length: int) -> bytes:
        data, short = self._call(
            "read_range", key, lambda: self.inner.read_range(key, offset, length)
        )
        return data[:-1] if short and data else data

    def download(
        self, key: str, dest: Path, progress: Progress | None = None, *, limit: int
    ) -> None:
        _, short = self._call(
            "download", key, lambda: self.inner.download(key, dest, progress, limit=limit)
        )
        if short and dest.stat().st_size:
            os.truncate(dest, dest.stat().st_size - 1)

    def list(self, prefix: str) -> dict[str, int]:
        found, _ = self._call("list", prefix, lambda: self.inner.list(prefix))
        return found

    def size(self, key: str) -> int | None:
        found, _ = self._call("size", key, lambda: self.inner.size(key))
        return found

    def overwritten(self) -> dict[str, int]:
        return self.inner.overwritten()


def seeded(name: str, default: int) -> random.Random:
    """An RNG seeded from the environment variable ``name`` (else ``default``)."""
    return random.Random(int(os.environ.get(name, default)))


# -- a committing worker process (test_concurrency) -------------------------------------


def worker_content(worker: int, number: int, final: bool) -> bytes:
    """What worker ``worker`` writes to its ``number``-th file: a draft it stages and then
    replaces (garbage for gc once committed over), and the final bytes it commits."""
    size = 24_000 + 1_000 * number + (0 if final else 500)
    return random.Random(f"{worker}-{number}-{final}").randbytes(size)


def write_atomic(root: Path, rel: str, data: bytes) -> None:
    """Write outside the tracked root, then rename in: a concurrent ``commit -a`` sees
    the old file or the new one, never half of it."""
    tmp = root / "incoming" / f"{os.getpid()}.tmp"
    tmp.parent.mkdir(exist_ok=True)
    tmp.write_bytes(data)
    target = root / rel
    target.parent.mkdir(parents=True, exist_ok=True)
    os.replace(tmp, target)


def commit_loop(root: Path, worker: int, commits: int) -> int:
    """Stage a draft, replace it, ``commit -a``: ``commits`` times; prints one JSON line
    per commit (the id prefix from dvault's output). Returns the exit code."""
    import re

    for number in range(commits):
        rel = f"{DATA}/w{worker}/f{number}.bin"
        write_atomic(root, rel, worker_content(worker, number, final=False))
        added = cli_subprocess(root, "add", rel)
        write_atomic(root, rel, worker_content(worker, number, final=True))
        message = f"w{worker} c{number}"
        done = cli_subprocess(root, "commit", "-a", "--allow-empty", "-m", message)
        found = re.search(r"\[\S+ ([0-9a-f]{12})\]", done.out)
        if added.code != 0 or done.code != 0 or found is None:
            print(json.dumps({"error": f"{added.describe()}\n{done.describe()}"}), flush=True)
            return 1
        print(json.dumps({"worker": worker, "number": number, "commit": found[1]}), flush=True)
    return 0


if __name__ == "__main__" and sys.argv[1:2] == ["serve"]:
    for request_line in sys.stdin:
        request = json.loads(request_line)
        answer = probe(Path(request["root"]), request["expected"])
        sys.stdout.write(json.dumps(answer) + "\n")
        sys.stdout.flush()
elif __name__ == "__main__" and sys.argv[1:2] == ["commit-loop"]:
    sys.exit(commit_loop(Path(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])))
