"""Measuring commands: a launcher process that reports each one's wall time and
peak RSS, steps and runs, and the :class:`Bench` that runs and records dvault's steps."""

from __future__ import annotations

import compileall
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Self

KiB = 1 << 10
MiB = 1 << 20
# ru_maxrss is in KiB on Linux but in bytes on macOS.
MAXRSS_BYTES = 1 if sys.platform == "darwin" else KiB
REPO_ROOT = Path(__file__).resolve().parent.parent.parent

# Hashes every file under the given roots, like the verification needs and like a fast dvault
# would: blake3 with all cores, 1 MiB reads. Runs as a subprocess so it is measured like dvault.
HASH_SCRIPT = """
import os, sys, blake3
buf = bytearray(1 << 20)
view = memoryview(buf)
for root in sys.argv[1:]:
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for name in sorted(filenames):
            path = os.path.join(dirpath, name)
            hasher = blake3.blake3(max_threads=blake3.blake3.AUTO)
            with open(path, "rb", buffering=0) as f:
                while n := f.readinto(buf):
                    hasher.update(view[:n])
            sys.stdout.write(f"{path}\\t{hasher.hexdigest()}\\n")
"""

# The helper behind Launcher: reads one JSON request per line, runs it, replies with wall time,
# the child's own rusage from wait4, and the peak summed RSS of its process tree. wait4's
# ru_maxrss covers the child and the descendants it waited for, but as a *maximum* over them
# (so does RUSAGE_CHILDREN): two workers of 200 MiB each read as 200 MiB. The tree's total is
# therefore sampled from /proc every 20 ms (Linux only; shared pages count once per process,
# so the sum errs on the high side).
LAUNCHER_SCRIPT = """
import json, os, subprocess, sys, threading, time
PAGE_KIB = os.sysconf("SC_PAGE_SIZE") // 1024

def tree_rss_kib(root):
    total, stack = 0, [root]
    while stack:
        pid = stack.pop()
        try:
            with open(f"/proc/{pid}/statm") as f:
                total += int(f.read().split()[1]) * PAGE_KIB
            for tid in os.listdir(f"/proc/{pid}/task"):
                with open(f"/proc/{pid}/task/{tid}/children") as f:
                    stack.extend(int(c) for c in f.read().split())
        except (OSError, ValueError):
            pass
    return total

for line in sys.stdin:
    req = json.loads(line)
    with open(req["out"], "wb") as out, open(req["err"], "wb") as err:
        start = time.perf_counter()
        try:
            proc = subprocess.Popen(req["cmd"], cwd=req["cwd"], env=req["env"],
                                    stdin=subprocess.DEVNULL, stdout=out, stderr=err)
        except OSError as e:
            err.write(str(e).encode())
            reply = {"seconds": 0.0, "maxrss": 0, "tree_rss": 0, "returncode": 127}
        else:
            peak, done = [0], threading.Event()

            def sample(pid=proc.pid):
                while not done.wait(0.02):
                    peak[0] = max(peak[0], tree_rss_kib(pid))

            sampler = threading.Thread(target=sample)
            sampler.start()
            _, status, usage = os.wait4(proc.pid, 0)  # blocking: the wall time stays exact
            done.set()
            sampler.join()
            proc.returncode = os.waitstatus_to_exitcode(status)
            reply = {"seconds": time.perf_counter() - start, "maxrss": usage.ru_maxrss,
                     "tree_rss": peak[0], "returncode": proc.returncode}
    print(json.dumps(reply), flush=True)
"""

TREE_ROOTS = ("data", "checkpoints")


@dataclass(frozen=True)
class Run:
    """One finished subprocess: what it cost and what it said."""

    seconds: float
    peak_rss_mib: float
    """Largest single process (wait4's ru_maxrss)."""
    returncode: int
    stdout: str
    stderr: str
    tree_rss_mib: float = 0.0
    """Peak of the process tree's summed RSS, sampled every 20 ms (0 where /proc is absent)."""

    @property
    def memory_mib(self) -> float:
        """The memory the command needed: the tree's sampled sum, or the single-process
        peak when that is higher (a step too short to be sampled)."""
        return max(self.peak_rss_mib, self.tree_rss_mib)


@dataclass
class Step:
    """A named measurement, possibly repeated so noisy steps can report median and min."""

    name: str
    runs: list[Run]

    @property
    def ok(self) -> bool:
        return all(run.returncode == 0 for run in self.runs)

    @property
    def seconds(self) -> float:
        return statistics.median(run.seconds for run in self.runs)

    @property
    def min_seconds(self) -> float:
        return min(run.seconds for run in self.runs)

    @property
    def peak_rss_mib(self) -> float:
        return max(run.peak_rss_mib for run in self.runs)

    @property
    def memory_mib(self) -> float:
        return max(run.memory_mib for run in self.runs)

    def to_json(self) -> dict[str, object]:
        return {
            "ok": self.ok,
            "seconds": self.seconds,
            "min_seconds": self.min_seconds,
            "peak_rss_mib": self.peak_rss_mib,
            "tree_rss_mib": self.memory_mib,
            "runs": [
                {
                    "seconds": r.seconds,
                    "peak_rss_mib": r.peak_rss_mib,
                    "tree_rss_mib": r.tree_rss_mib,
                    "returncode": r.returncode,
                }
                for r in self.runs
            ],
        }


class Launcher:
    """Runs measured commands from a small helper process and reports their own peak RSS.

    Linux seeds a child's ru_maxrss with the high-water mark of the memory image it was forked
    (or vforked) from. Spawning from this script, whose memory grows with buffers and manifests,
    inflated small readings (24 -> 33 MiB for the same dvault command); the helper only
    launches, so the floor stays at a fresh interpreter's size (see rss_floor_mib).
    """

    def __init__(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-c", LAUNCHER_SCRIPT],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        self.proc.wait()

    def measure(self, cmd: Sequence[str], cwd: Path, env: dict[str, str] | None = None) -> Run:
        """Run cmd to completion in cwd; output is captured to files so it cannot block."""
        assert self.proc.stdin is not None and self.proc.stdout is not None
        with tempfile.TemporaryDirectory() as tmp:
            out, err = Path(tmp, "stdout"), Path(tmp, "stderr")
            request = {
                "cmd": list(cmd),
                "cwd": str(cwd),
                "env": env,
                "out": str(out),
                "err": str(err),
            }
            self.proc.stdin.write(json.dumps(request) + "\n")
            self.proc.stdin.flush()
            reply = self.proc.stdout.readline()
            if not reply:
                raise RuntimeError("measurement launcher exited unexpectedly")
            result = json.loads(reply)
            return Run(
                seconds=result["seconds"],
                peak_rss_mib=result["maxrss"] * MAXRSS_BYTES / MiB,
                returncode=result["returncode"],
                stdout=out.read_text(errors="replace"),
                stderr=err.read_text(errors="replace"),
                tree_rss_mib=result["tree_rss"] * KiB / MiB,
            )


def rss_floor_mib(launcher: Launcher) -> float:
    """Peak RSS reported for `true`: readings near this say nothing about the command."""
    return launcher.measure(["true"], Path.cwd()).peak_rss_mib


def shell(script: str) -> list[str]:
    """A bash pipeline command that fails if any stage fails, not just the last one."""
    return ["bash", "-c", f"set -euo pipefail; {script}"]


def warm(*roots: Path) -> None:
    """Read every file under ``roots`` (untimed), so the step that follows reads them from
    memory. "Warm cache" has to be made, not assumed: packs are written past the page
    cache (``O_DIRECT``, store/appendfile), and this VM's kernel pages out page-cache
    pages left unread for a few seconds (DAMON reclaim: ``age/min`` 12 aggregation
    intervals of 0.5 s), so a read even a few steps after a write or an earlier read
    may come from the disk (0.57 s for the 659 MB of packs, against 0.17 s warm)."""
    for root in roots:
        files = [root] if root.is_file() else [p for p in root.rglob("*") if p.is_file()]
        for path in files:
            with path.open("rb") as f:
                while f.read(1 << 20):
                    pass


def hash_command(roots: Sequence[str] = TREE_ROOTS) -> list[str]:
    """The blake3 manifest command over the project tree (used for baseline and verification)."""
    return [sys.executable, "-c", HASH_SCRIPT, *roots]


def parse_manifest(stdout: str) -> dict[str, str]:
    """Map path -> blake3 hex from HASH_SCRIPT output."""
    return dict(line.split("\t", 1) for line in stdout.splitlines())


def compile_bytecode(package: Path) -> None:
    """Write the package's .pyc files, as ``pip install`` does, before anything is timed.

    Without them (a fresh checkout, or PYTHONDONTWRITEBYTECODE=1 in the environment, as on
    the CI machines) every dvault start recompiles its modules from source, and each step
    pays 30-60 ms that grows with the size of the code rather than with the work the step
    does. Figures recorded before issue 17 included that cost.
    """
    compileall.compile_dir(str(package), quiet=1)


def find_dvault(explicit: Path | None = None) -> tuple[list[str], dict[str, str] | None]:
    """The dvault CLI command and environment: ``--dvault``, else the venv's console script,
    else ``-m dvault``. A regular (non-editable) install starts ~10 ms faster than an
    editable one, whose import hook runs on every start; the recorded figures use one.

    The fallback puts the repo root on PYTHONPATH so an uninstalled checkout still works even
    though steps run with the project directory as cwd.
    """
    if explicit is not None:
        python = explicit.parent / "python"
        if python.exists():  # the measured install's own package, compiled as pip would
            found = subprocess.run(
                [
                    str(python),
                    "-I",
                    "-c",
                    "import dvault, os; print(os.path.dirname(dvault.__file__))",
                ],
                capture_output=True,
                text=True,
            )
            if found.returncode == 0:
                compile_bytecode(Path(found.stdout.strip()))
        return [str(explicit)], None
    compile_bytecode(REPO_ROOT / "dvault")
    script = Path(sys.executable).parent / "dvault"
    if script.exists():
        return [str(script)], None
    pythonpath = os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")]))
    return [sys.executable, "-m", "dvault"], {**os.environ, "PYTHONPATH": pythonpath}


class Bench:
    """Runs and records steps in one project dir; dvault steps are skipped if the CLI is absent."""

    def __init__(self, project: Path, launcher: Launcher, dvault: Path | None = None) -> None:
        self.project = project
        self.launcher = launcher
        self.dvault_cmd, self.dvault_env = find_dvault(dvault)
        self.dvault_available = True
        self._remote_add: list[str] | None = None
        self.steps: dict[str, Step] = {}
        self.failures: list[str] = []
        # Named byte counts (apparent size) for the storage table and the JSON results.
        self.sizes: dict[str, int] = {}

    def remote_add(self) -> list[str]:
        """``dvault remote add``, with ``--init`` where this dvault has it (a directory
        remote must exist since issue 20; an older dvault, measured for comparison,
        creates it on the first push)."""
        if self._remote_add is None:
            helped = subprocess.run(
                [*self.dvault_cmd, "remote", "add", "--help"],
                env=self.dvault_env,
                capture_output=True,
                text=True,
            )
            init = ["--init"] if "--init" in helped.stdout else []
            self._remote_add = [*self.dvault_cmd, "remote", "add", *init]
        return self._remote_add

    def run(
        self,
        name: str,
        cmd: Sequence[str],
        repeat: int = 1,
        env: dict[str, str] | None = None,
        before: Callable[[], None] | None = None,
    ) -> Step:
        """Measure cmd `repeat` times as step `name`, reporting failures without stopping.

        ``before`` runs untimed ahead of every repetition (to reset state). Dirty pages are
        flushed first so a step never pays for writeback of earlier writes.
        """
        runs = []
        for _ in range(repeat):
            if before is not None:
                before()
            os.sync()
            runs.append(self.launcher.measure(cmd, self.project, env))
        step = Step(name, runs)
        self.steps[name] = step
        rss = f"{step.peak_rss_mib:7.1f} MiB (tree {step.memory_mib:.1f})"
        print(f"  {name:<28} {step.seconds:9.3f} s {rss}", file=sys.stderr, flush=True)
        if not step.ok:
            self.failures.append(name)
            failed = next(run for run in step.runs if run.returncode != 0)
            print(f"  !! {name} exited {failed.returncode}; stderr tail:", file=sys.stderr)
            for line in failed.stderr.strip().splitlines()[-20:]:
                print(f"     {line}", file=sys.stderr)
        return step

    def dvault(
        self, name: str, *args: str, repeat: int = 1, before: Callable[[], None] | None = None
    ) -> Step | None:
        """Run a dvault subcommand as a step, or skip it when the CLI could not be started."""
        if not self.dvault_available:
            return None
        cmd = [*self.dvault_cmd, *args]
        return self.run(name, cmd, repeat=repeat, env=self.dvault_env, before=before)

    def fresh_repository(self) -> None:
        """Delete .dvault and init again (untimed), so `add` can be measured repeatedly."""
        shutil.rmtree(self.project / ".dvault", ignore_errors=True)
        subprocess.run(
            [*self.dvault_cmd, "init"],
            cwd=self.project,
            env=self.dvault_env,
            check=True,
            capture_output=True,
        )


def tree_size(root: Path) -> tuple[int, int, int]:
    """(files, apparent bytes, allocated bytes) under root; zeros if it does not exist."""
    files = apparent = allocated = 0
    for dirpath, _, filenames in os.walk(root):
        for name in filenames:
            st = os.lstat(os.path.join(dirpath, name))
            files += 1
            apparent += st.st_size
            allocated += st.st_blocks * 512
    return files, apparent, allocated


def load() -> str:
    """The 1, 5 and 15 minute load averages, to note beside figures from a shared machine."""
    return " ".join(f"{x:.2f}" for x in os.getloadavg())
