"""``dvault run`` and ``dvault rerun``: record a command that produced data, and repeat it.

``run`` executes the command, and only if it succeeds, stages its outputs and commits them
with the command, its working directory, duration, inputs and sources in the commit's
lineage (secrets on the command line redacted first: dvault/secretargs.py), and the
environment it ran in (captured while it runs: dvault/envcapture.py). ``rerun``
executes the recorded command again and compares what it produces with what was
committed, file by file, without storing anything.

A recorded command is whatever the commit says, and a commit can come from anyone who can
push to a remote: running it is running their code. So ``rerun`` first makes a
:class:`RerunPlan` that checks the record (a list of strings, a working directory and
outputs inside the project, nothing redacted) and the commit's signature; the caller shows
the plan and runs it only with the user's say-so (``--yes``, a prompt) or when the commit
carries a good signature from a trusted signer (:attr:`RerunPlan.trusted`). This is how
git treats hooks and ``core.fsmonitor`` from a clone: never run because a fetched object
says so.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from dvault.envcapture import capture
from dvault.errors import CheckFailed, UsageError
from dvault.hashing import ObjectId
from dvault.objects import MODE_DIR
from dvault.ops.commits import commit, signature
from dvault.ops.tracking import add
from dvault.repository import Repository
from dvault.secretargs import redact_argv, redacted_positions
from dvault.signing import GOOD, SignatureCheck
from dvault.trees import lookup, walk
from dvault.workspace.scan import load_ignore
from dvault.workspace.scan import walk as scan
from dvault.workspace.status import hash_many

MAX_ARGS = 4096
MAX_OUTPUTS = 4096
_RESERVED = (".dvault", ".git")


@dataclass
class RunResult:
    exit_code: int
    seconds: float
    commit: bytes | None = None


def run(
    repo: Repository,
    command: list[str],
    outputs: list[str],
    cwd: Path,
    message: str | None = None,
    inputs: list[str] | None = None,
    sources: list[str | Path] | None = None,
    kind: str | None = None,
) -> RunResult:
    if not command:
        raise UsageError("dvault run needs a command after --")
    if not outputs:
        raise UsageError("dvault run needs at least one --output PATH")
    # the environment is captured while the command runs: it costs the run no time
    with ThreadPoolExecutor(1) as pool:
        captured = pool.submit(capture, command, cwd, repo.root)
        start = time.perf_counter()
        try:
            done = subprocess.run(command, cwd=cwd)
        except OSError as exc:
            raise UsageError(f"cannot run {command[0]!r}: {exc.strerror}") from None
        seconds = time.perf_counter() - start
        environment = captured.result()
    if done.returncode != 0:
        return RunResult(done.returncode, seconds)
    rel_outputs = [os.fsdecode(repo.relpath(cwd / o)) for o in outputs]
    add(repo, [cwd / o for o in outputs], kind=kind)
    recorded = redact_argv(command)
    record = {
        "command": recorded,
        "cwd": os.path.relpath(cwd.resolve(), repo.root),
        "outputs": rel_outputs,
        "seconds": round(seconds, 3),
        "exit": 0,
    }
    oid = commit(
        repo,
        message or "run: " + " ".join(recorded),
        meta={"run": record},
        inputs=inputs,
        sources=sources,
        allow_empty=True,
        environment=environment,
    )
    return RunResult(0, seconds, oid)


@dataclass(frozen=True)
class RerunPlan:
    """What ``rerun`` would execute, checked, with the commit's signature status."""

    rev: str
    commit: ObjectId
    command: tuple[str, ...]
    cwd: str  # relative to the project root, normalised ("." for the root)
    outputs: tuple[str, ...]
    signature: SignatureCheck

    @property
    def trusted(self) -> bool:
        """The commit carries a good signature from a trusted signer."""
        return bool(self.signature.status == GOOD)

    def describe(self) -> list[str]:
        """The plan in words, for the user to judge before it runs (unescaped: the
        printer escapes)."""
        return [
            f"rerun of {self.rev} ({self.commit.hex()[:12]}) would run: "
            + shlex.join(self.command),
            f"  in: {self.cwd}" + (" (the project root)" if self.cwd == "." else ""),
            f"  signature: {self.signature.describe()}",
        ]


def plan_rerun(repo: Repository, rev: str) -> RerunPlan:
    """Read and check REV's run record; raises :class:`UsageError` (exit 2) for a record
    that must not run: not a list of strings, a working directory or output outside the
    project (``..``, absolute, through a symlink, inside .git or .dvault), or secrets
    that were redacted when it was recorded."""
    oid = repo.resolve(rev)
    record = repo.read_commit(oid).meta.get("run")
    where = f"{rev} ({oid.hex()[:12]})"
    if not isinstance(record, dict) or not record.get("command"):
        raise UsageError(f"{where} was not made by dvault run; nothing to repeat")
    command = record["command"]
    if (
        not isinstance(command, list)
        or len(command) > MAX_ARGS
        or not all(isinstance(a, str) and "\0" not in a for a in command)
    ):
        raise UsageError(f"{where}: the recorded command is not a list of arguments; not run")
    hidden = redacted_positions(command)
    if hidden:
        raise UsageError(
            f"{where}: the recorded command had secrets redacted when it was recorded "
            f"(argument {', '.join(str(i + 1) for i in hidden)}: {shlex.join(command)}); "
            "run it yourself with the secret, then compare with dvault diff"
        )
    outputs = record.get("outputs", [])
    if not isinstance(outputs, list) or len(outputs) > MAX_OUTPUTS:
        raise UsageError(f"{where}: the recorded outputs are not a list of paths; not run")
    cwd = _inside(repo, record.get("cwd", "."), "working directory", where)
    if not (repo.root / cwd).is_dir():
        raise UsageError(f"{where}: the recorded working directory {cwd} does not exist")
    checked = tuple(_inside(repo, o, "output", where) for o in outputs)
    return RerunPlan(rev, oid, tuple(command), cwd, checked, signature(repo, oid))


def _inside(repo: Repository, value: object, what: str, where: str) -> str:
    """A recorded project-relative path, normalised; refused unless it stays inside the
    project once symlinks already in the work tree are followed."""
    if not isinstance(value, str) or "\0" in value:
        raise UsageError(f"{where}: the recorded {what} is not a path; not run")
    path = PurePosixPath(value)
    if path.is_absolute() or ".." in path.parts or any(p in _RESERVED for p in path.parts):
        raise UsageError(
            f"{where}: the recorded {what} {value!r} is outside the project's data "
            "(absolute, '..', .git or .dvault); not run"
        )
    rel = path.as_posix()
    root = os.path.realpath(repo.root)
    real = os.path.realpath(os.path.join(root, rel))
    if real != root and not real.startswith(root + os.sep):
        raise UsageError(
            f"{where}: the recorded {what} {value!r} leads outside the project through a "
            f"symlink (to {real}); not run"
        )
    inner = os.path.relpath(real, root).split(os.sep)
    if any(p in _RESERVED for p in inner):
        raise UsageError(
            f"{where}: the recorded {what} {value!r} leads into {os.path.relpath(real, root)} "
            "through a symlink; not run"
        )
    return rel


@dataclass
class RerunResult:
    exit_code: int
    matches: bool
    differences: list[str] = field(default_factory=list)


def rerun(repo: Repository, plan: RerunPlan) -> RerunResult:
    """Run a checked plan (the caller decided it may run) and compare its outputs with
    the commit's."""
    try:
        done = subprocess.run(list(plan.command), cwd=repo.root / plan.cwd)
    except OSError as exc:
        raise UsageError(f"cannot run {plan.command[0]!r}: {exc.strerror}") from None
    if done.returncode != 0:
        raise CheckFailed(f"the recorded command failed this time (exit {done.returncode})")
    recorded = repo.read_commit(plan.commit)
    differences: list[str] = []
    ignore = load_ignore(repo.root)
    for output in plan.outputs:
        rel = b"" if output == "." else output.encode()
        entry = lookup(repo.store, recorded.tree, rel)
        expected: dict[bytes, tuple[int, bytes]] = {}
        if entry is not None:
            leaves = (
                [(rel, entry)]
                if not entry.is_dir
                else [(rel + b"/" + p, e) for p, e in walk(repo.store, entry.id)]
            )
            expected = {p: (e.mode, e.id) for p, e in leaves if not e.is_dir}
        current = {
            p: (e.mode, e.id)
            for p, e in hash_many(repo.root, list(scan(repo.root, rel, ignore).items())).items()
            if e.mode != MODE_DIR
        }
        for path in sorted(expected.keys() | current.keys()):
            if path not in current:
                differences.append(f"missing: {os.fsdecode(path)}")
            elif path not in expected:
                differences.append(f"new: {os.fsdecode(path)}")
            elif expected[path] != current[path]:
                differences.append(f"differs: {os.fsdecode(path)}")
    return RerunResult(0, not differences, differences)
