"""The crash-safety harness: run the real ``dvault`` program, SIGKILL it at a random
moment, and record every way the repository fails its guarantees afterwards.

A *loss* is any broken promise after a kill: ``verify`` finding damage, an earlier commit
not restoring byte for byte, a repository that no longer opens or commits, a torn file.
A campaign stops at the first run with a loss (the repository may be broken from then
on) and its summary line names the seed, run and kill delay needed to reproduce it.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.cli.helpers import base_env as _cli_env
from tests.cli.helpers import dvault_command

from .faults import Result, cli  # one in-process runner, shared with the worker script

AUTHOR = "Crash Test <crash@example.com>"
TEMP_SUFFIX = ".dvault-tmp"
FULL_KILLS = 50
"""Random-time kills per command in the full campaigns (``DVAULT_SLOW=1``)."""
DEFAULT_KILLS = FULL_KILLS if os.environ.get("DVAULT_SLOW") == "1" else 8
"""The default run's sample: every planned write boundary is still killed (the narrow
crash windows), only the random-time kills are fewer, so the whole suite stays under ten
minutes on two cores; ``DVAULT_SLOW=1`` or ``DVAULT_KILLS=N`` run the full campaigns."""
PROPERTY = "reliability"
"""The ``record_property`` key under which each campaign stores its summary line."""


def kills_wanted() -> int:
    """Random-time kills per command: ``DVAULT_KILLS``, else :data:`DEFAULT_KILLS`."""
    return max(1, int(os.environ.get("DVAULT_KILLS", DEFAULT_KILLS)))


def base_env(home: Path) -> dict[str, str]:
    """The end-to-end tests' isolated environment, with this suite's author."""
    env = _cli_env(home)
    env["DVAULT_AUTHOR"] = AUTHOR
    return env


class Project:
    """A dvault project directory and ways to run commands in it.

    The command under test always runs as a real child process (:meth:`spawn`), the one
    that gets killed; the checks after a kill run the same command line in this process
    (:meth:`run`), which saves the interpreter start-up on each of them. The environment
    of both is ``env`` (the in-process runs need it set in ``os.environ`` too: see the
    ``project`` fixture).
    """

    def __init__(self, root: Path, env: dict[str, str]) -> None:
        self.root = root
        self.env = env

    def run(self, *args: str) -> Result:
        """``dvault ARGS`` in this process; any exit code."""
        return cli(self.root, *args)

    def ok(self, *args: str) -> Result:
        """``dvault ARGS`` in this process; exit code 0 required."""
        result = self.run(*args)
        assert result.code == 0, result.describe()
        return result

    def run_child(self, *args: str, timeout: float = 120) -> Result:
        """``dvault ARGS`` as a child process; any exit code."""
        proc = subprocess.run(
            [*dvault_command(), *args],
            cwd=self.root,
            env=self.env,
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

    def spawn(self, *args: str) -> subprocess.Popen[bytes]:
        """Start ``dvault ARGS`` in a session of its own (so its helpers can be found)."""
        return subprocess.Popen(
            [*dvault_command(), *args],
            cwd=self.root,
            env=self.env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )

    def write(self, rel: str, data: bytes) -> Path:
        path = self.root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        return path

    def head(self) -> dict[str, Any] | None:
        """HEAD's commit as ``dvault log --json -n 1`` shows it (None before a commit)."""
        result = self.run("log", "--json", "-n", "1")
        if result.code != 0:
            return None
        commits = json.loads(result.out)
        return commits[0] if commits else None


def file_digest(path: Path) -> str:
    if path.is_symlink():
        return "link:" + os.readlink(path)
    return hashlib.sha256(path.read_bytes()).hexdigest()


def manifest(top: Path) -> dict[str, str]:
    """Every file under ``top`` (but ``.dvault`` and checkout temp files) -> its sha256."""
    out: dict[str, str] = {}
    for dirpath, dirnames, filenames in os.walk(top):
        if Path(dirpath) == top and ".dvault" in dirnames:
            dirnames.remove(".dvault")
        for name in filenames:
            if name.endswith(TEMP_SUFFIX):
                continue
            path = Path(dirpath) / name
            out[path.relative_to(top).as_posix()] = file_digest(path)
    return out


def stray_temps(top: Path) -> list[str]:
    """Checkout temp files (``*.dvault-tmp``) left in the workspace."""
    found = []
    for dirpath, dirnames, filenames in os.walk(top):
        if Path(dirpath) == top and ".dvault" in dirnames:
            dirnames.remove(".dvault")
        found += [
            (Path(dirpath) / n).relative_to(top).as_posix()
            for n in filenames
            if n.endswith(TEMP_SUFFIX)
        ]
    return sorted(found)


def manifest_diff(want: dict[str, str], got: dict[str, str]) -> str:
    """A short description of how two manifests differ ("" when equal)."""
    missing = sorted(want.keys() - got.keys())
    extra = sorted(got.keys() - want.keys())
    changed = sorted(p for p in want.keys() & got.keys() if want[p] != got[p])
    parts = []
    for label, paths in (("missing", missing), ("unexpected", extra), ("different", changed)):
        if paths:
            more = f" (+{len(paths) - 5} more)" if len(paths) > 5 else ""
            parts.append(f"{label}: {', '.join(paths[:5])}{more}")
    return "; ".join(parts)


def _session_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def session_members(pgid: int) -> list[str]:
    """Command lines of the processes still in process group ``pgid`` (Linux /proc)."""
    found = []
    for stat_file in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat_file.read_text()
            fields = text.rsplit(")", 1)[1].split()
            if int(fields[2]) == pgid and fields[0] != "Z":  # zombies are gone already
                cmdline = (stat_file.parent / "cmdline").read_bytes()
                command = cmdline.replace(b"\0", b" ").decode(errors="replace").strip()
                # an exiting process has no command line any more: show its name
                found.append(command or text[text.index("(") : text.rindex(")") + 1])
        except (OSError, IndexError, ValueError):
            continue
    return found


def wait_for_session(pgid: int, timeout: float = 15.0) -> list[str]:
    """Wait until no process of session ``pgid`` is left; kill what is still running
    after ``timeout``. Returns what outlived the kill by more than half a second (worker
    processes are meant to die with their parent).
    """
    grace = time.monotonic() + 0.5  # workers die with their parent (PR_SET_PDEATHSIG)
    while _session_alive(pgid) and time.monotonic() < grace:
        time.sleep(0.005)
    if not _session_alive(pgid):
        return []
    members = session_members(pgid)
    deadline = time.monotonic() + timeout
    while _session_alive(pgid):
        if time.monotonic() > deadline:
            os.killpg(pgid, signal.SIGKILL)
            time.sleep(0.05)
            break
        time.sleep(0.01)
    return members


KILLPOINT = Path(__file__).with_name("killpoint.py")


@dataclass
class Outcome:
    """How one run under attack went: killed after ``delay`` seconds, or (``boundary``
    > 0) right before its Nth write-boundary call (see killpoint.py)."""

    delay: float
    boundary: int
    killed: bool
    code: int
    err: str
    orphans: list[str]

    def describe(self) -> str:
        how = f"boundary {self.boundary}" if self.boundary else f"delay {self.delay:.3f}s"
        return f"{how}, {'killed' if self.killed else 'finished'}"


def kill_in(project: Project, target: str, args: list[str]) -> Result:
    """Run ``dvault ARGS`` as a child process killed on the first call of ``target``
    (``module:Class.method``, see killpoint.py); the result must be that kill."""
    proc = subprocess.run(
        [sys.executable, str(KILLPOINT), "@" + target, *args],
        cwd=project.root,
        env=project.env,
        capture_output=True,
        check=False,
    )
    result = Result(
        list(args),
        proc.returncode,
        proc.stdout.decode(errors="replace"),
        proc.stderr.decode(errors="replace"),
    )
    assert result.code == -signal.SIGKILL, f"not killed in {target}: " + result.describe()
    return result


def run_and_kill(project: Project, args: list[str], delay: float, boundary: int = 0) -> Outcome:
    """Start ``dvault ARGS`` and SIGKILL it: after ``delay`` seconds unless it has exited,
    or, with ``boundary``, when it reaches that write boundary."""
    if boundary:
        proc = subprocess.Popen(
            [sys.executable, str(KILLPOINT), str(boundary), *args],
            cwd=project.root,
            env=project.env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
    else:
        proc = project.spawn(*args)
        if delay > 0:
            time.sleep(delay)
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
    _, err = proc.communicate()
    orphans = wait_for_session(proc.pid)
    killed = proc.returncode == -signal.SIGKILL
    return Outcome(delay, boundary, killed, proc.returncode, err.decode(errors="replace"), orphans)


def measure(project: Project, args: list[str]) -> tuple[float, int, Result]:
    """One uninterrupted run as a child process (which must succeed): its wall time and
    the number of write-boundary calls it made."""
    count_file = project.root.parent / f"killpoint-count-{os.getpid()}"
    start = time.monotonic()
    proc = subprocess.run(
        [sys.executable, str(KILLPOINT), "0", *args],
        cwd=project.root,
        env={**project.env, "DVAULT_KILLPOINT_COUNT": str(count_file)},
        capture_output=True,
        check=False,
    )
    elapsed = time.monotonic() - start
    result = Result(
        list(args),
        proc.returncode,
        proc.stdout.decode(errors="replace"),
        proc.stderr.decode(errors="replace"),
    )
    assert result.code == 0, result.describe()
    count = int(count_file.read_text())
    count_file.unlink()
    return elapsed, count, result


def boundary_plan(count: int, most: int) -> list[int]:
    """Which boundaries to kill at: all of them, or when there are more than ``most``,
    the first and last third of ``most`` and an even spread in between."""
    if count <= most:
        return list(range(1, count + 1))
    edge = most // 3
    middle = most - 2 * edge
    spread = [
        edge + 1 + round(i * (count - 2 * edge - 1) / max(1, middle - 1)) for i in range(middle)
    ]
    return sorted({*range(1, edge + 1), *spread, *range(count - edge + 1, count + 1)})


@dataclass
class Campaign:
    """Kills of one command: first one at each write boundary (see killpoint.py; at most
    ``most_boundaries`` of them, more with a larger ``DVAULT_KILLS``), then at random
    times until ``wanted`` runs were killed mid-way; records every loss."""

    name: str
    seed: int
    wanted: int = field(default_factory=kills_wanted)
    most_boundaries: int = 30
    duration: float = 0.0
    boundaries: int = 0
    plan: list[int] = field(default_factory=list)
    runs: int = 0
    kills: int = 0
    boundary_kills: int = 0
    boundary_runs: int = 0
    finished: int = 0
    orphan_runs: int = 0
    orphan_names: set[str] = field(default_factory=set)
    losses: list[str] = field(default_factory=list)
    current: Outcome | None = None
    started: float = field(default_factory=time.monotonic)

    def __post_init__(self) -> None:
        self.seed = int(os.environ.get("DVAULT_KILL_SEED", self.seed))
        self.rng = random.Random(self.seed)

    def measure(
        self,
        project: Project,
        args_for: Callable[[int], list[str]],
        after: Callable[[Result], object] | None = None,
        times: int = 3,
    ) -> None:
        """Time ``times`` uninterrupted runs (``args_for(i)`` prepares run i and returns its
        arguments; ``after`` sees each result) and count their write boundaries: the
        median time is the typical duration, the largest count plans the boundary kills."""
        durations, counts = [], []
        for i in range(times):
            duration, count, result = measure(project, args_for(i))
            durations.append(duration)
            counts.append(count)
            if after is not None:
                after(result)
        self.duration = statistics.median(durations)
        self.boundaries = max(counts)
        most = self.most_boundaries * max(1, self.wanted // FULL_KILLS)
        self.plan = boundary_plan(self.boundaries, most)

    def more(self) -> bool:
        """Keep going until every planned boundary was tried and enough runs were killed
        at random times (or a loss is found)."""
        if self.losses:
            return False
        random_runs = self.runs - self.boundary_runs
        return bool(self.plan) or (self.kills < self.wanted and random_runs < 4 * self.wanted)

    def delay(self) -> float:
        """Uniform in [0, 1.2 x typical duration]; one in ten right at the start."""
        assert self.duration > 0, "measure the typical duration first"
        if self.kills < 3 or self.rng.random() < 0.1:
            return 0.0
        return self.rng.uniform(0.0, 1.2 * self.duration)

    def kill(self, project: Project, args: list[str]) -> Outcome:
        if self.plan:
            outcome = run_and_kill(project, args, 0.0, self.plan.pop(0))
            self.boundary_runs += 1
        else:
            outcome = run_and_kill(project, args, self.delay())
        self.current = outcome
        self.runs += 1
        if not outcome.killed:
            self.finished += 1
            self.check(
                outcome.code == 0,
                f"dvault {' '.join(args)} finished with exit {outcome.code}: {outcome.err}",
            )
        elif outcome.boundary:
            self.boundary_kills += 1
        else:
            self.kills += 1
        if outcome.orphans:
            self.orphan_runs += 1
            self.orphan_names.update(name[:80] for name in outcome.orphans)
        return outcome

    def check(self, ok: bool, message: str) -> bool:
        """Record a loss unless ``ok``; returns ``ok``."""
        if not ok:
            run = self.current
            where = f"run {self.runs} (seed {self.seed}, {run.describe()})" if run else "setup"
            self.losses.append(f"{self.name} {where}: {message}")
        return ok

    def check_ok(self, result: Result, codes: tuple[int, ...] = (0,)) -> bool:
        return self.check(result.code in codes, result.describe())

    def summary(self) -> str:
        elapsed = time.monotonic() - self.started
        orphans = (
            f", {self.orphan_runs} left processes behind ({'; '.join(sorted(self.orphan_names))})"
            if self.orphan_runs
            else ""
        )
        return (
            f"{self.name}: {self.kills + self.boundary_kills} kills, {len(self.losses)} losses "
            f"({self.kills} at random times in [0, {1.2 * self.duration:.2f}s], "
            f"{self.boundary_kills} at write boundaries of {self.boundaries}; "
            f"{self.runs} runs, {self.finished} finished first{orphans}; "
            f"seed {self.seed}, {elapsed:.0f}s)"
        )

    def report(self, record_property: Any) -> None:
        """Print and record the summary line, then fail on any loss."""
        line = self.summary()
        print(line)
        record_property(PROPERTY, line)
        assert not self.losses, line + "\n" + "\n".join(self.losses)
        assert self.kills >= self.wanted, (
            f"{line}: only {self.kills} of {self.wanted} runs were killed mid-way"
        )
