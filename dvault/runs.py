"""``dvault run`` and ``dvault rerun``: record a command that produced data, and repeat it.

``run`` executes the command, and only if it succeeds, stages its outputs and commits them
with the command, its working directory, duration, inputs and sources in the commit's
lineage. ``rerun`` executes the recorded command again and compares what it produces with
what was committed, file by file, without storing anything.
"""

from __future__ import annotations

import os
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dvault.errors import CheckFailed, UsageError
from dvault.objects import MODE_DIR

if TYPE_CHECKING:
    from dvault.repo import Repo


@dataclass
class RunResult:
    exit_code: int
    seconds: float
    commit: bytes | None = None


def run(
    repo: Repo,
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
    start = time.perf_counter()
    try:
        done = subprocess.run(command, cwd=cwd)
    except OSError as exc:
        raise UsageError(f"cannot run {command[0]!r}: {exc.strerror}") from None
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        return RunResult(done.returncode, seconds)
    rel_outputs = [os.fsdecode(repo.relpath(cwd / o)) for o in outputs]
    repo.add([cwd / o for o in outputs], kind=kind)
    record = {
        "command": command,
        "cwd": os.path.relpath(cwd.resolve(), repo.root),
        "outputs": rel_outputs,
        "seconds": round(seconds, 3),
        "exit": 0,
    }
    oid = repo.commit(
        message or "run: " + " ".join(command),
        meta={"run": record},
        inputs=inputs,
        sources=sources,
        allow_empty=True,
    )
    return RunResult(0, seconds, oid)


@dataclass
class RerunResult:
    exit_code: int
    matches: bool
    differences: list[str] = field(default_factory=list)


def rerun(repo: Repo, rev: str) -> RerunResult:
    """Run REV's recorded command again and compare its outputs with REV's."""
    from dvault.trees import lookup, walk
    from dvault.workspace.scan import load_ignore
    from dvault.workspace.scan import walk as scan
    from dvault.workspace.status import hash_many

    commit = repo.read_commit(repo.resolve(rev))
    record: Any = commit.meta.get("run")
    if not isinstance(record, dict) or not record.get("command"):
        raise UsageError(f"{rev} was not made by dvault run; nothing to repeat")
    cwd = repo.root / str(record.get("cwd", "."))
    done = subprocess.run([str(a) for a in record["command"]], cwd=cwd)
    if done.returncode != 0:
        raise CheckFailed(f"the recorded command failed this time (exit {done.returncode})")
    differences: list[str] = []
    ignore = load_ignore(repo.root)
    for output in record.get("outputs", []):
        rel = output.encode()
        entry = lookup(repo.store, commit.tree, rel)
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
