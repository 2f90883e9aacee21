"""Guarantees 3 and 4 against a failing remote: a push, fetch or clone that fails at any
call surfaces one clear RemoteError, leaves no partial state visible, and a retry completes.

:class:`~.faults.FaultyBackend` wraps the real directory backend and, at a chosen call,
raises, loses the reply of a call that took effect, stalls until a timeout, returns a read
one byte short, or lets the remote die after N writes. Each campaign first counts the calls
a healthy operation makes, then injects each kind of fault at every one of them (stalls at
every third), each time on a fresh copy of the projects and remotes, through the library
API (``push_refs``, ``fetch``, ``clone`` with the backend injected). After every fault: the
error is one RemoteError with a one-line message; the remote's ref log replays to the old
refs (or, when the failing call itself took effect, to the new ones); the local refs,
workspace and store are unchanged and verify; a retry with the healthy backend completes;
and ``dvault verify --remote origin --read-data`` passes.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from dvault import config as cfg
from dvault.hashing import ObjectId
from dvault.ops.sync import clone
from dvault.remote.backend import RemoteError, RemoteSpec, RemoteTampered
from dvault.remote.directory import DirectoryBackend
from dvault.remote.fetch import fetch
from dvault.remote.push import push_refs
from dvault.remote.reflog import RemoteRefLog
from dvault.repo import Repo

from .faults import (
    AUTHOR,
    WRITES,
    Fault,
    FaultyBackend,
    add_to_total,
    cli,
    cli_ok,
    commit_ids,
    manifest,
    ram_dir,
    record,
    seeded,
    write_files,
)

WHERE = re.compile(r"[0-9a-f]{16}|refs/log/\d+\.json")
"""A short-read error must say where: an object id or pack name, or a ref-log entry."""
MAIN, TAG = "refs/heads/main", "refs/tags/v1"
CAMPAIGNS = 4


@dataclass
class Template:
    """``proj`` holds c1 and c2 + tag v1; ``remote`` has only c1 (main), ``full`` also c2
    and v1; ``behind`` is a clone of ``remote`` (at c1)."""

    base: Path
    c1: str
    c2: str
    tag: str
    c1_files: dict[str, str]
    c2_files: dict[str, str]


def point_remote(root: Path, remote: Path) -> None:
    """Aim ``origin`` at ``remote`` (a copy of a project must not use the original's)."""
    config = cfg.load(root / ".dvault" / "config")
    config["remote"]["origin"]["url"] = str(remote)
    cfg.save(root / ".dvault" / "config", config)


@pytest.fixture(scope="module")
def template() -> Iterator[Template]:
    """The projects and remotes every fault starts from, built once per module."""
    rng = seeded("DVAULT_FAULT_SEED", 11)
    with ram_dir("dvault-remote-faults-") as base, pytest.MonkeyPatch.context() as mp:
        mp.setenv("DVAULT_AUTHOR", AUTHOR)
        proj = base / "proj"
        proj.mkdir()
        cli_ok(proj, "init")
        write_files(proj, {f"data/shard{i}.bin": rng.randbytes(30_000) for i in range(4)})
        write_files(proj, {"data/labels.csv": b"id,label\n" * 500})
        cli_ok(proj, "add", "data")
        cli_ok(proj, "commit", "-m", "first")
        c1_files = manifest(proj)
        cli_ok(proj, "remote", "add", "--init", "origin", "../remote")  # relative to -C proj
        cli_ok(proj, "push", "origin", "main")
        cli_ok(base, "clone", "remote", "behind")
        write_files(proj, {f"data/shard{i}.bin": rng.randbytes(30_000) for i in range(2, 6)})
        write_files(proj, {"data/labels.csv": b"id,label,score\n" * 400})
        cli_ok(proj, "commit", "-a", "-m", "second")
        cli_ok(proj, "tag", "v1", "-m", "release")
        c2, c1 = commit_ids(proj)
        with Repo.open(proj) as repo:
            tag_id = repo.refs.read(TAG)
            assert tag_id is not None
            tag = tag_id.hex()
        shutil.copytree(base / "remote", base / "full", symlinks=True)
        pusher = shutil.copytree(proj, base / "pusher", symlinks=True)
        point_remote(pusher, base / "full")
        cli_ok(pusher, "push", "origin", "main", "v1")
        shutil.rmtree(pusher)
        yield Template(base, c1, c2, tag, c1_files, manifest(proj))


@dataclass
class Case:
    """A fresh copy of the template for one fault."""

    dir: Path

    @property
    def proj(self) -> Path:
        return self.dir / "proj"

    @property
    def behind(self) -> Path:
        return self.dir / "behind"

    def remote_refs(self, name: str = "remote") -> dict[str, str]:
        """A remote's refs as a fresh reader replays them from its ref log."""
        state = self.dir / f"log-{len(list(self.dir.glob('log-*')))}.json"
        return RemoteRefLog(DirectoryBackend(self.dir / name), state).load(full=True).refs

    def faulty(self, name: str, fault: Fault | None = None) -> FaultyBackend:
        return FaultyBackend(DirectoryBackend(self.dir / name), fault)


@dataclass
class Tally:
    injected: int = 0
    clear_errors: int = 0
    recovered: int = 0
    took_effect: int = 0
    partial: int = 0
    retried: int = 0
    failures: list[str] = field(default_factory=list)

    def check_error(self, what: str, exc: BaseException | None, fb: FaultyBackend) -> bool:
        """One RemoteError with a one-line message; returns whether an error was raised."""
        self.injected += 1
        if exc is None:
            if fb.injected and all(f == "short:read" for f in fb.injected):
                self.recovered += 1  # a cut ref-log read is read again before judging it
            elif fb.injected:
                self.failures.append(f"{what}: fault {fb.injected} went unnoticed")
            return False
        text = str(exc)
        if not isinstance(exc, RemoteError):
            self.failures.append(f"{what}: {type(exc).__name__} instead of RemoteError: {text}")
        elif isinstance(exc, RemoteTampered) or "tamper" in text or "rewritten" in text:
            # every fault here is a failing network or disk, never an attacker
            self.failures.append(f"{what}: a transient fault reported as tampering: {text}")
        elif not text.strip() or "\n" in text:
            self.failures.append(f"{what}: error is not one line: {text!r}")
        else:
            self.clear_errors += 1
        return True


class Cases:
    """Fresh copies of the template, one per fault."""

    def __init__(self, template: Template, scratch: Path) -> None:
        self.template = template
        self.scratch = scratch
        self.count = 0

    def new(self) -> Case:
        self.count += 1
        case = Case(self.scratch / f"case{self.count}")
        shutil.copytree(self.template.base, case.dir, symlinks=True)
        point_remote(case.proj, case.dir / "remote")
        point_remote(case.behind, case.dir / "full")
        return case

    def done(self, case: Case) -> None:
        shutil.rmtree(case.dir, ignore_errors=True)


@pytest.fixture
def cases(template: Template) -> Iterator[Cases]:
    with ram_dir("dvault-fault-cases-") as scratch:
        yield Cases(template, scratch)


RETRY_EVERY = 1 if os.environ.get("DVAULT_SLOW") == "1" else 4
"""A failed clone must leave nothing behind, so its retry is a fresh clone: every fault
is injected and checked, but by default only every fourth one is retried and verified
(the suite's budget); ``DVAULT_SLOW=1`` retries after each."""


def attempt(action: Callable[[], Any]) -> BaseException | None:
    try:
        action()
    except Exception as exc:
        return exc
    return None


def faults_for(healthy: FaultyBackend, writes: bool = True) -> list[Fault]:
    """Every kind of fault at every call the healthy run made (stalls at every third)."""
    calls = len(healthy.calls)
    faults = [Fault(fail_call=k) for k in range(1, calls + 1)]
    faults += [Fault(stall_call=k) for k in range(1, calls + 1, 3)]
    faults += [Fault(short_read=k) for k in range(1, healthy.reads + 1)]
    if writes:
        writing = [i + 1 for i, (method, _) in enumerate(healthy.calls) if method in WRITES]
        faults += [Fault(lose_reply=k) for k in writing]
        faults += [Fault(die_after_writes=n) for n in range(healthy.writes)]
    return faults


def summarize(
    record_property: Any, factory: pytest.TempPathFactory, name: str, tally: Tally, extra: str = ""
) -> None:
    record(
        record_property,
        f"remote faults ({name}): {tally.injected} injected, {tally.clear_errors} surfaced "
        f"as one RemoteError, {tally.recovered} recovered by a re-read, "
        f"{len(tally.failures)} problems{extra}; {tally.retried} "
        "retries completed and verify --remote passed after each",
    )
    counts = {k: v for k, v in tally.__dict__.items() if isinstance(v, int)}
    counts["problems"] = len(tally.failures)
    totals = add_to_total(factory.getbasetemp(), "remote-faults", name, counts, CAMPAIGNS)
    if totals is not None:
        record(
            record_property,
            f"remote faults: {totals['injected']} injected into push, fetch and clone; "
            f"{totals['clear_errors']} surfaced as one RemoteError, {totals['recovered']} "
            f"recovered by a re-read, {totals['problems']} "
            f"other outcomes; {totals['partial']} partially visible pushes; "
            f"{totals['retried']} retries completed, verify --remote "
            "passed after every one",
        )
    assert not tally.failures, f"{len(tally.failures)} problem(s):\n" + "\n".join(
        tally.failures[:20]
    )


def _verify_remote(tally: Tally, what: str, root: Path) -> None:
    result = cli(root, "verify", "--remote", "origin", "--read-data")
    if result.code != 0:
        tally.failures.append(f"{what}: {result.describe()}")


def _push_campaign(cases: Cases, wanted: dict[str, ObjectId], tally: Tally) -> None:
    def push(case: Case, backend: Any) -> None:
        with Repo.open(case.proj) as repo:
            push_refs(repo, RemoteSpec("origin", str(case.dir / "remote")), wanted, backend=backend)

    case = cases.new()
    old = case.remote_refs()
    new = {**old, **{ref: oid.hex() for ref, oid in wanted.items()}}
    healthy = case.faulty("remote")
    push(case, healthy)
    assert case.remote_refs() == new and not healthy.injected
    cases.done(case)
    for fault in faults_for(healthy):
        case = cases.new()
        fb = case.faulty("remote", fault)
        what = f"push {sorted(wanted)} with {fault.describe()}"
        failed = tally.check_error(what, attempt(lambda: push(case, fb)), fb)  # noqa: B023
        after = case.remote_refs()
        if after == new:
            tally.took_effect += 1
            if failed and not fault.may_take_effect:
                tally.failures.append(f"{what}: refs moved although the push failed first")
        elif after != old:
            # one log entry carries every ref of a push: all move, or none
            tally.partial += 1
            tally.failures.append(f"{what}: partial ref-log state visible: {after}")
        _verify_remote(tally, f"{what}, before the retry", case.proj)
        error = attempt(lambda: push(case, None))  # noqa: B023
        if error is not None or case.remote_refs() != new:
            tally.failures.append(f"{what}: retry did not complete: {error!r}")
        else:
            tally.retried += 1
            _verify_remote(tally, f"{what}, after the retry", case.proj)
        cases.done(case)


def test_push_failing_at_any_call_moves_no_remote_ref(
    template: Template,
    cases: Cases,
    tmp_path_factory: pytest.TempPathFactory,
    record_property: Any,
) -> None:
    """A single-ref push failing at any call leaves the remote's ref log as it was."""
    tally = Tally()
    wanted = {MAIN: ObjectId(bytes.fromhex(template.c2))}
    _push_campaign(cases, wanted, tally)
    summarize(
        record_property,
        tmp_path_factory,
        "push main",
        tally,
        f", {tally.took_effect} faults hit after the log entry was written",
    )


def test_two_ref_push_moves_both_refs_or_neither(
    template: Template,
    cases: Cases,
    tmp_path_factory: pytest.TempPathFactory,
    record_property: Any,
) -> None:
    """A push of main and v1 failing at any call moves both refs or neither."""
    tally = Tally()
    wanted = {
        MAIN: ObjectId(bytes.fromhex(template.c2)),
        TAG: ObjectId(bytes.fromhex(template.tag)),
    }
    _push_campaign(cases, wanted, tally)
    summarize(
        record_property,
        tmp_path_factory,
        "push main v1",
        tally,
        f", {tally.took_effect} faults hit after the log entry was written, "
        f"{tally.partial} partially visible",
    )


def _local_state(root: Path) -> dict[str, bytes]:
    """Every ref file and HEAD of a project (what a failed fetch must not change)."""
    dv = root / ".dvault"
    found = {"HEAD": (dv / "HEAD").read_bytes()}
    for path in (dv / "refs").rglob("*"):
        if path.is_file():
            found[path.relative_to(dv).as_posix()] = path.read_bytes()
    return found


def test_fetch_failing_at_any_call_changes_nothing_locally(
    template: Template,
    cases: Cases,
    tmp_path_factory: pytest.TempPathFactory,
    record_property: Any,
) -> None:
    """A fetch failing at any call (short reads included) changes no ref or file."""
    tally = Tally()

    def run(case: Case, backend: Any) -> None:
        with Repo.open(case.behind) as repo:
            fetch(repo, RemoteSpec("origin", str(case.dir / "full")), None, backend=backend)

    case = cases.new()
    healthy = case.faulty("full")
    run(case, healthy)
    cases.done(case)
    for fault in faults_for(healthy, writes=False):
        case = cases.new()
        before, files = _local_state(case.behind), manifest(case.behind)
        fb = case.faulty("full", fault)
        what = f"fetch with {fault.describe()}"
        exc = attempt(lambda: run(case, fb))  # noqa: B023
        if tally.check_error(what, exc, fb):
            if fault.short_read is not None and not WHERE.search(str(exc)):
                tally.failures.append(f"{what}: the error does not say where: {exc}")
            if _local_state(case.behind) != before or manifest(case.behind) != files:
                tally.failures.append(f"{what}: refs or workspace changed by a failed fetch")
            checked = cli(case.behind, "verify", "--read-data")
            if checked.code != 0:
                tally.failures.append(f"{what}: local store damaged: {checked.describe()}")
        error = attempt(lambda: run(case, None))  # noqa: B023
        restored = cli(case.behind, "checkout", "v1")
        if error is not None or restored.code != 0 or manifest(case.behind) != template.c2_files:
            tally.failures.append(f"{what}: retry did not complete: {error!r} {restored.err}")
        else:
            tally.retried += 1
            _verify_remote(tally, f"{what}, after the retry", case.behind)
        cases.done(case)
    summarize(record_property, tmp_path_factory, "fetch", tally)


def test_clone_failing_at_any_call_leaves_nothing_behind(
    template: Template,
    cases: Cases,
    tmp_path_factory: pytest.TempPathFactory,
    record_property: Any,
) -> None:
    """A clone failing at any call (short reads included) leaves no directory."""
    tally = Tally()
    case = cases.new()
    healthy = case.faulty("full")
    clone(str(case.dir / "full"), case.dir / "copy", backend=healthy)
    assert manifest(case.dir / "copy") == template.c2_files
    cases.done(case)
    for number, fault in enumerate(faults_for(healthy, writes=False)):
        case = cases.new()
        fb = case.faulty("full", fault)
        what = f"clone with {fault.describe()}"
        dest = case.dir / "copy"
        exc = attempt(lambda: clone(str(case.dir / "full"), dest, backend=fb))  # noqa: B023
        if tally.check_error(what, exc, fb):
            if fault.short_read is not None and not WHERE.search(str(exc)):
                tally.failures.append(f"{what}: the error does not say where: {exc}")
            if dest.exists():
                tally.failures.append(f"{what}: a failed clone left {dest}")
        shutil.rmtree(dest, ignore_errors=True)
        if number % RETRY_EVERY:
            cases.done(case)
            continue
        error = attempt(lambda: clone(str(case.dir / "full"), dest))  # noqa: B023
        if error is not None or manifest(dest) != template.c2_files:
            tally.failures.append(f"{what}: retry did not complete: {error!r}")
        else:
            tally.retried += 1
            _verify_remote(tally, f"{what}, after the retry", dest)
        cases.done(case)
    summarize(record_property, tmp_path_factory, "clone", tally)


def test_relative_remote_path_follows_dash_c(template: Template, tmp_path: Path) -> None:
    """``dvault -C DIR remote add NAME ../path`` stores the path relative to DIR."""
    config = cfg.load(template.base / "proj" / ".dvault" / "config")
    assert config["remote"]["origin"]["url"] == str(template.base / "remote")
