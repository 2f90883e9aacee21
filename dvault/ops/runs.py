"""``dvault run`` and ``dvault rerun``: record a command that produced data, and repeat it.

``run`` executes the command, and only if it succeeds, stages its outputs and commits them
with the command, its working directory, duration, inputs and sources in the commit's
lineage (secrets on the command line redacted first: dvault/secretargs.py) and the
environment it ran in (captured while it runs: dvault/envcapture.py), after checking
that each declared input is what the work tree holds (dvault/ops/runinputs.py). ``rerun``
executes the recorded command again in a scratch work tree holding the data the run
recorded, and compares what it produces with what was committed, file by file, without
storing anything or touching the user's work tree.

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
import re
import shlex
import subprocess
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path, PurePosixPath
from typing import Any

from dvault import gitlink, reruns
from dvault.commitobjects import Commit
from dvault.envcapture import capture
from dvault.errors import CheckFailed, UsageError
from dvault.hashing import ObjectId, from_hex
from dvault.names import root_problem
from dvault.ops.commits import commit, signature, signer_for
from dvault.ops.runinputs import check_inputs, recheck_inputs
from dvault.ops.tracking import add
from dvault.repository import Repository
from dvault.reruns import Output, Record
from dvault.secretargs import redact_argv, redacted_positions
from dvault.signing import GOOD, SignatureCheck
from dvault.treeobjects import MODE_DIR, TreeEntry
from dvault.trees import lookup, walk
from dvault.workspace.present import entries_id
from dvault.workspace.scan import load_ignore
from dvault.workspace.scan import walk as scan
from dvault.workspace.scratch import Scratch
from dvault.workspace.status import hash_many

MAX_ARGS = 4096
MAX_OUTPUTS = 4096
_RESERVED = (".dvault", ".git")
_HEX40 = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")  # a git commit id, sha1 or sha256


@dataclass
class RunResult:
    exit_code: int
    seconds: float
    commit: bytes | None = None
    inputs: list[dict[str, Any]] = field(default_factory=list)
    """The input records, with what the work tree held (dvault/ops/runinputs.py)."""


def run(
    repo: Repository,
    command: list[str],
    outputs: list[str],
    cwd: Path,
    message: str | None = None,
    inputs: list[str] | None = None,
    sources: list[str | Path] | None = None,
    kind: str | None = None,
    allow_dirty: bool = False,
    sign: bool = False,
    key: str | None = None,
) -> RunResult:
    """Run ``command`` and commit its ``outputs``. Each declared input must be what the
    work tree holds (:func:`dvault.ops.runinputs.check_inputs`), checked before anything
    runs: a mismatch is refused, or with ``allow_dirty`` recorded as one. With ``sign``
    the commit is signed with ``key`` (loaded before anything runs: a missing key fails
    fast)."""
    if not command:
        raise UsageError("dvault run needs a command after --")
    if not outputs:
        raise UsageError("dvault run needs at least one --output PATH")
    signer_for(sign, key)
    rel_outputs = [os.fsdecode(repo.relpath(cwd / o)) for o in outputs]
    records = check_inputs(repo, inputs or [], rel_outputs, allow_dirty)
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
        return RunResult(done.returncode, seconds, None, records)
    recheck_inputs(repo, records, rel_outputs)
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
        sources=sources,
        allow_empty=True,
        input_records=records,
        environment=environment,
        sign=sign,
        key=key,
    )
    return RunResult(0, seconds, oid, records)


@dataclass(frozen=True)
class RerunPlan:
    """What ``rerun`` would execute, checked, with the commit's signature status."""

    rev: str
    commit: ObjectId
    command: tuple[str, ...]
    cwd: str  # relative to the project root, normalised ("." for the root)
    outputs: tuple[str, ...]
    signature: SignatureCheck
    data: tuple[tuple[str, TreeEntry], ...] = ()
    """What the scratch work tree holds, path by path (:func:`_recorded_data`)."""
    code: str = ""
    """Which code the rerun uses against the code the run used (:func:`_code_note`)."""

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
            *([f"  code: {self.code}"] if self.code else []),
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
    commit = repo.read_commit(oid)
    data = _recorded_data(repo, where, commit, checked)
    return RerunPlan(
        rev,
        oid,
        tuple(command),
        cwd,
        checked,
        signature(repo, oid),
        tuple(sorted(data.items())),
        _code_note(repo, commit),
    )


def _code_note(repo: Repository, recorded: Commit) -> str:
    """The code a rerun uses is the work tree's (copied into the scratch): how that
    compares with the git commit the run recorded, in words ("" outside git)."""
    now = gitlink.state(repo.root, repo.roots())
    git = recorded.meta.get("git")
    then = git.get("commit") if isinstance(git, dict) else None
    if now is None:
        return ""
    if not isinstance(then, str) or not _HEX40.fullmatch(then):
        return f"the work tree's (git {str(now.commit)[:12]}); the run recorded no git commit"
    here = f"the work tree's, at git {str(now.commit)[:12]}"
    dirty = " with changes not committed" if now.dirty else ""
    if now.commit == then:
        return f"{here}{dirty} (the commit the run recorded)"
    return f"{here}{dirty}, NOT {then[:12]}, the commit the run recorded"


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
    record: Record | None = None
    """What was stored for a review to read (dvault/reruns.py)."""


def rerun(repo: Repository, plan: RerunPlan) -> RerunResult:
    """Run a checked plan (the caller decided it may run) in a scratch work tree holding
    the data the run recorded, and compare its outputs there with the commit's.

    The scratch (dvault/workspace/scratch.py) holds the commit's tracked roots except
    its outputs, each recorded input (``PATH@REV``: REV's PATH; ``REV``: REV's roots)
    in their place, and a copy of the project's other files; the user's work tree is not
    touched. An input recorded with ``--allow-dirty`` was never stored, so such a run
    cannot be re-created: refused before anything runs.

    Whatever the command did (matched, differed, failed), the result is stored as the
    commit's rerun record (dvault/reruns.py), which ``review`` reads."""
    recorded = repo.read_commit(plan.commit)
    scratch = Scratch(repo.dir)
    try:
        owned = {*(p for p, _ in plan.data), *repo.roots(), *recorded.roots, *plan.outputs}
        scratch.lay_out(repo.root, owned, [plan.cwd])
        for path, entry in plan.data:  # sorted: a root before an input inside it replaces it
            scratch.put(repo.store, path, entry)
        try:
            done = subprocess.run(list(plan.command), cwd=scratch.root / plan.cwd)
        except OSError as exc:
            raise UsageError(f"cannot run {plan.command[0]!r}: {exc.strerror}") from None
        if done.returncode != 0:
            failed = [(o, _recorded_id(repo, recorded.tree, o), None) for o in plan.outputs]
            _store(repo, plan, done.returncode, failed, [])
            raise CheckFailed(
                f"NOT reproduced: the recorded command exited {done.returncode} in a scratch "
                f"work tree holding the data {plan.rev} recorded"
            )
        differences, ids = _compare(repo, recorded.tree, plan.outputs, scratch.root)
    finally:
        scratch.remove()
    record = _store(repo, plan, 0, ids, differences)
    return RerunResult(0, record.matches, differences, record)


def _store(
    repo: Repository,
    plan: RerunPlan,
    code: int,
    ids: Sequence[tuple[str, ObjectId | None, ObjectId | None]],
    differences: list[str],
) -> Record:
    """Write the rerun record of ``plan.commit`` (dvault/reruns.py) and return it."""
    outputs = tuple(
        Output(path, a.hex() if a else None, b.hex() if b else None) for path, a, b in ids
    )
    matches = code == 0 and not differences and all(o.recorded == o.reproduced for o in outputs)
    record = Record(
        plan.commit.hex(),
        reruns.now(),
        _version(),
        code,
        matches,
        outputs,
        tuple(d[: reruns.MAX_TEXT] for d in differences[: reruns.MAX_DIFFERENCES]),
        len(differences),
        plan.code[: reruns.MAX_TEXT],
    )
    reruns.write(repo.dir, record)
    return record


def _version() -> str:
    try:
        return metadata.version("dvault")
    except metadata.PackageNotFoundError:
        return "unknown"


def _recorded_id(repo: Repository, tree: ObjectId, output: str) -> ObjectId | None:
    if output == ".":
        return tree
    entry = lookup(repo.store, tree, output.encode())
    return entry.id if entry is not None else None


def _overlaps(a: str, b: str) -> bool:
    return a == b or a.startswith(b + "/") or b.startswith(a + "/") or b == "."


def _recorded_data(
    repo: Repository, where: str, recorded: Commit, outputs: tuple[str, ...]
) -> dict[str, TreeEntry]:
    """What the scratch holds, path by path: ``recorded``'s roots that are not outputs,
    then each recorded input (attacker input: checked as a tracked root is)."""

    def roots_of(commit: Commit) -> dict[str, TreeEntry]:
        found = {}
        for root in commit.roots:
            if not any(_overlaps(root, o) for o in outputs):
                entry = lookup(repo.store, commit.tree, root.encode())
                if entry is not None:
                    found[root] = entry
        return found

    data = roots_of(recorded)
    items = recorded.meta.get("inputs", [])
    if not isinstance(items, list):
        raise UsageError(f"{where}: the recorded inputs are not a list; not run")
    for item in items:
        commit_hex = item.get("commit") if isinstance(item, dict) else None
        if not isinstance(item, dict) or not isinstance(commit_hex, str):
            raise UsageError(f"{where}: a recorded input is not an object with a commit; not run")
        try:
            source = repo.read_commit(from_hex(commit_hex))
        except ValueError:
            raise UsageError(f"{where}: a recorded input's commit is not an id; not run") from None
        named = f"{item.get('path') or ''}@{item.get('rev')}".lstrip("@")
        if item.get("clean") is False:
            raise CheckFailed(
                f"{where}: input {named} was recorded with --allow-dirty: what the command "
                "read was not that revision and was never stored, so it cannot be re-created; "
                "not run"
            )
        path = item.get("path")
        if not path:
            data.update(roots_of(source))
            continue
        why = root_problem(path, "dataset") if isinstance(path, str) else "it is not text"
        if why is not None:
            raise UsageError(f"{where}: the recorded input path {path!r} is refused: {why}")
        entry = lookup(repo.store, source.tree, path.encode())
        if entry is None or item.get("id") not in (None, entry.id.hex()):
            raise CheckFailed(f"{where}: input {named} is not in the commit it names; not run")
        data[path] = entry
    return data


def _compare(
    repo: Repository, tree: ObjectId, outputs: tuple[str, ...], top: Path
) -> tuple[list[str], list[tuple[str, ObjectId | None, ObjectId | None]]]:
    """Each output under ``top`` compared with ``tree``, file by file; and for each, the
    id recorded against the id reproduced (a tree's id for a folder)."""
    differences: list[str] = []
    ids: list[tuple[str, ObjectId | None, ObjectId | None]] = []
    ignore = load_ignore(repo.root)
    for output in outputs:
        rel = b"" if output == "." else output.encode()
        entry = lookup(repo.store, tree, rel) if rel else None
        expected: dict[bytes, tuple[int, bytes]] = {}
        if entry is not None:
            leaves = (
                [(rel, entry)]
                if not entry.is_dir
                else [(rel + b"/" + p, e) for p, e in walk(repo.store, entry.id)]
            )
            expected = {p: (e.mode, e.id) for p, e in leaves if not e.is_dir}
        found = hash_many(top, list(scan(top, rel, ignore).items()))
        current = {p: (e.mode, e.id) for p, e in found.items() if e.mode != MODE_DIR}
        for path in sorted(expected.keys() | current.keys()):
            if path not in current:
                differences.append(f"missing: {os.fsdecode(path)}")
            elif path not in expected:
                differences.append(f"new: {os.fsdecode(path)}")
            elif expected[path] != current[path]:
                differences.append(f"differs: {os.fsdecode(path)}")
        if rel:
            ids.append((output, entry.id if entry else None, entries_id(found, rel)))
        else:  # the whole project: compared file by file above; no one id to compare
            ids.append((output, tree, tree if not differences else None))
    return differences, ids
