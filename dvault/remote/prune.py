"""``dvault prune``: delete from a remote what no kept commit needs, in two phases.

Phase 1 (*plan*) replays the whole ref log, computes the live objects (every commit object
of the history, and the trees and data of every kept commit: :func:`live_objects`), sorts
the packs into fully live (kept), dead (nothing live) and partly live, copies the live
objects of partly live packs into new packs (create-only uploads, each confirmed against
its name before anything else happens), and appends a signed ``prune-plan`` entry naming
the packs to delete and their replacements. Nothing is deleted in phase 1.

Phase 2 (*execute*) acts on a plan at least ``grace`` old (restic's two-phase approach,
chosen over kopia's epoch markers because the hash-chained ref log already orders every
push against the plan, and a plan is one more entry in it): it replays the log again,
recomputes the live set including every commit pushed since the plan, keeps any planned
pack still holding a live object that no other surviving pack holds, asks the storage for
each pack's Object Lock retention (refusing, with the date, until it has ended), deletes
with the admin credential (:mod:`dvault.remote.admin`), and appends ``prune-done``.

Pushers read open plans from the log (:attr:`LogState.planned`) and treat the objects of
planned packs as absent, so a push that starts after a plan uploads its objects again
instead of relying on a pack about to go. A push already under way when the plan was
appended must land within ``grace``: phase 2's re-check then sees its commits.

Crash safety: replacements are uploaded and confirmed before the plan names them; the plan
is appended before any delete; a delete repeated after a kill finds the file gone; the
``prune-done`` entry is appended last. A kill at any point leaves every live object in
some pack (docs/retention.md, "Crash safety"; tests/reliability/test_kill_prune.py).
"""

from __future__ import annotations

import contextlib
import datetime
import shutil
import time
from collections.abc import Collection
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from blake3 import blake3

from dvault import config as cfg
from dvault.commitobjects import Commit, Tag
from dvault.errors import MissingObject, UsageError
from dvault.hashing import ObjectType
from dvault.objects import decode
from dvault.reachability import walk
from dvault.remote.admin import Deleter, open_deleter
from dvault.remote.backend import AlreadyExists, Backend, RemoteError, RemoteSpec
from dvault.remote.catalog import pack_key
from dvault.remote.kept import KeptSet, kept
from dvault.remote.logentry import Action, LogEntry
from dvault.remote.logsign import push_signer, trusted_signers
from dvault.remote.redaction import erased_objects
from dvault.remote.reflog import LogView
from dvault.remote.session import Remote, RemoteHome
from dvault.store.pack import PackEntry, PackWriter

MAX_PLANNED = 20_000
"""Packs one plan names at most (~70 bytes each: well inside a 4 MiB ref-log entry)."""


@dataclass
class PruneReport:
    dry_run: bool = False
    live_objects: int = 0
    packs_dead: list[str] = field(default_factory=list)
    packs_repacked: list[str] = field(default_factory=list)
    packs_added: list[str] = field(default_factory=list)
    planned_seq: int | None = None
    plans_executed: list[int] = field(default_factory=list)
    plans_waiting: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    bytes_freed: int = 0
    bytes_to_free: int = 0
    kept: list[str] = field(default_factory=list)
    """Planned packs not deleted, each with why (locked until a date, needed since)."""
    holes: list[str] = field(default_factory=list)


def live_objects(
    remote: Remote,
    repo: RemoteHome,
    view: LogView,
    keeps: KeptSet,
    erased: Collection[bytes] = frozenset(),
) -> set[bytes]:
    """Every object a kept commit needs: every commit and tag object ever named by the log
    and their history (commits are tiny and always kept, so every chain stays
    verifiable), and the trees and data of each commit the kept set keeps
    (:func:`dvault.remote.kept.kept`: not released by a trusted forget entry, or named by
    a branch, tag or pin no forget released; an annotated tag keeps its commit). Objects
    a trusted redaction erased are never live, but a commit object always is."""
    store = repo.store

    def read(oid: bytes) -> tuple[ObjectType, bytes]:
        try:
            return store.get_raw(oid)
        except MissingObject:
            return remote.read_object(oid)

    def type_of(oid: bytes) -> ObjectType | None:
        return remote.catalog.type_of(oid)

    named = {u.new for entry, _ in view.entries for u in entry.updates}
    pinned = set(keeps.pinned)
    commits: set[bytes] = set()
    live: set[bytes] = set()
    # pinned values first (popped last), so a tag is peeled before its commit is reached
    pending = [bytes.fromhex(h) for h in sorted(named - pinned)] + sorted(
        bytes.fromhex(h) for h in pinned
    )
    while pending:
        oid = pending.pop()
        if oid in live:
            continue
        kind, body = read(oid)
        obj = decode(kind, body)
        live.add(oid)
        if isinstance(obj, Tag):
            pending.append(obj.object)
            if oid.hex() in pinned:  # a kept tag's commit is as kept as the tag
                pinned.add(obj.object.hex())
        elif isinstance(obj, Commit):
            commits.add(oid)
            pending.extend(obj.parents)
    keep = [c for c in commits if keeps.is_kept(c.hex()) or c.hex() in pinned]

    def skipped(oid: bytes) -> bool:  # erased data is not walked; a commit always is
        return oid in erased and oid not in commits

    found = walk(read, type_of, keep, history=False, paths=False, known=skipped)
    live.update(oid for oid in found.objects if oid not in erased or oid in commits)
    return live


def prune(
    repo: RemoteHome,
    spec: RemoteSpec,
    local: dict[str, Any] | None = None,
    *,
    dry_run: bool = False,
    grace_s: float = 3600.0,
    admin: bool = False,
    backend: Backend | None = None,
    deleter: Deleter | None = None,
) -> PruneReport:
    """Plan, then execute every trusted plan older than ``grace_s`` seconds (this run's
    own too when ``grace_s`` is 0). ``local``: the local config's section of this remote
    (``admin_profile``); read from ``.dvault/config.local`` when None. ``backend`` and
    ``deleter`` replace the configured ones (tests inject faults through them)."""
    remote = Remote(repo, spec, backend)
    if local is None:
        local = cfg.load(repo.dir / cfg.LOCAL_FILE).get("remote", {}).get(spec.name, {})
    report = PruneReport(dry_run=dry_run)
    # the admin credential and a signing key are checked before anything is written
    if deleter is None and not dry_run:
        deleter = open_deleter(remote.backend, spec, local or {}, admin)
    signer = None if dry_run else push_signer(repo, True)
    trusted = set(trusted_signers(repo).names)
    view = remote.log.load(full=True)
    if not dry_run:
        remote.log.accept(view)
    remote.refresh_catalog()
    report.holes = sorted(remote.catalog.holes)
    live = live_objects(remote, repo, view, kept(view, trusted), erased_objects(view, trusted))
    report.live_objects = len(live)
    open_plans = set(view.state.planned)
    dead, partial = _classify(remote, live, exclude=open_plans)
    locked = _locked(remote, [*dead, *partial], report)  # never planned, never repacked
    dead = [name for name in dead if name not in locked]
    partial = {name: es for name, es in partial.items() if name not in locked}
    report.packs_dead, report.packs_repacked = dead, sorted(partial)
    report.bytes_to_free = sum(remote.catalog.packs[p] for p in [*dead, *partial])
    if dry_run:
        return report
    assert deleter is not None and signer is not None
    if dead or partial:
        report.packs_added = _repack(repo, remote, partial)
        action = Action(
            "prune-plan",
            {"delete": sorted([*dead, *partial])[:MAX_PLANNED], "added": report.packs_added},
        )
        _, entry = remote.log.append_action(action, signer)
        report.planned_seq = entry.seq
    _execute_due(repo, remote, deleter, trusted, grace_s, report)
    return report


def _locked(remote: Remote, names: list[str], report: PruneReport) -> set[str]:
    """The packs among ``names`` whose Object Lock retention has not ended (asked of the
    storage, one request each), each said in ``report.kept`` with its date."""
    now = _stamp(time.time_ns())
    found = set()
    for name in names:
        lock = remote.backend.retention(pack_key(name))
        if lock is not None and lock.until is not None and lock.until > now:
            found.add(name)
            report.kept.append(
                f"packs/{name}.pack kept: Object Lock {lock.mode} retention until "
                f"{lock.until}; prune again after that date"
            )
    return found


def _classify(
    remote: Remote, live: set[bytes], exclude: set[str]
) -> tuple[list[str], dict[str, list[PackEntry]]]:
    """(dead packs, partly live packs -> their live entries no fully live pack holds)."""
    catalog = remote.catalog
    entries = {name: catalog.entries_of(name) or [] for name in catalog.packs}
    # a pack an open plan names is about to go: its copies never make another pack dead
    full = {
        n for n, es in entries.items() if n not in exclude and es and all(e.id in live for e in es)
    }
    held = {e.id for n in full for e in entries[n]}
    dead: list[str] = []
    partial: dict[str, list[PackEntry]] = {}
    for name, es in sorted(entries.items()):
        if name in full or name in exclude:
            continue
        needed = [e for e in es if e.id in live and e.id not in held]
        if not needed:  # nothing live, or only copies a fully live pack also holds
            dead.append(name)
        else:
            partial[name] = needed
            held.update(e.id for e in needed)
    return dead, partial


def _repack(repo: RemoteHome, remote: Remote, partial: dict[str, list[PackEntry]]) -> list[str]:
    """Copy the live objects of partly live packs into one new pack (each verified as it
    is read), upload it create-only and confirm it against its name, before any plan
    names the old ones."""
    if not partial:
        return []
    work = remote.dir / "prune"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    try:
        writer = PackWriter(work, repo.store.tmp_dir)

        def keep(entry: PackEntry, stored: bytes) -> None:
            writer.add(entry.id, entry.type, entry.compression, stored, entry.raw_len)

        for entries in partial.values():
            for entry in entries:
                remote.read_object(entry.id, keep=keep)
        name = writer.seal()
        local = work / f"{name}.pack"
        size = local.stat().st_size
        key = pack_key(name)
        with contextlib.suppress(AlreadyExists):  # the same bytes, from a killed run
            remote.backend.upload(key, local)
        _confirm(remote, key, local, size, work)
        remote.catalog.remember(name, local, size)
        return [name]
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _confirm(remote: Remote, key: str, local: Path, size: int, work: Path) -> None:
    """The uploaded pack holds exactly our bytes: the storage's digest, else read back
    whole and compared (its name is the blake3 of every byte)."""
    if remote.backend.size(key) != size:
        raise RemoteError(f"remote {remote.describe()}: {key} did not land whole; no plan")
    if remote.backend.same_as(key, local):
        return
    back = work / "readback.tmp"
    remote.backend.download(key, back, limit=size)
    if blake3(back.read_bytes()).hexdigest() != local.stem:
        raise RemoteError(f"remote {remote.describe()}: {key} reads back other bytes; no plan")


def _execute_due(
    repo: RemoteHome,
    remote: Remote,
    deleter: Deleter,
    trusted: set[bytes],
    grace_s: float,
    report: PruneReport,
) -> None:
    """Phase 2 for every open, trusted plan at least ``grace_s`` old."""
    view = remote.log.load(full=True)
    remote.log.accept(view)
    plans = {e.seq: e for e, _ in view.entries if e.action and e.action.kind == "prune-plan"}
    due: list[LogEntry] = []
    now = time.time_ns()
    for seq in sorted(set(view.state.planned.values())):
        entry = plans[seq]
        if not _trusted(entry, trusted):
            report.kept.append(f"plan {seq} is not signed by a trusted key; not executed")
        elif entry.time_ns + int(grace_s * 1e9) > now:
            until = _stamp(entry.time_ns + int(grace_s * 1e9))
            report.plans_waiting.append(f"plan {seq} waits for its grace period (until {until})")
        else:
            due.append(entry)
    if not due:
        return
    remote.catalog.refresh()
    erased = erased_objects(view, trusted)
    live = live_objects(remote, repo, view, kept(view, trusted), erased)
    signer = push_signer(repo, True)
    assert signer is not None  # sign=True: a key or SignatureError
    # what survives every open plan, due or not: a copy in another planned pack (which a
    # later run may delete) never counts as the copy that makes a pack deletable
    catalog = remote.catalog
    open_packs = set(view.state.planned)
    held: set[bytes] = set()
    for name in catalog.packs:
        if name not in open_packs:
            held.update(e.id for e in catalog.entries_of(name) or [])
    for entry in due:
        planned = [n for n in view.state.planned if view.state.planned[n] == entry.seq]
        deleted = _delete(remote, deleter, set(planned), live, held, report)
        done = Action("prune-done", {"plan": entry.seq, "deleted": deleted})
        remote.log.append_action(done, signer)
        report.plans_executed.append(entry.seq)


def _delete(
    remote: Remote,
    deleter: Deleter,
    planned: set[str],
    live: set[bytes],
    held: set[bytes],
    report: PruneReport,
) -> list[str]:
    """Delete the packs of one plan that hold no live object missing from ``held`` (the
    objects of surviving packs; a pack kept here joins them)."""
    catalog = remote.catalog
    deleted = []
    for name in sorted(planned):
        if name not in catalog.packs:
            if name not in catalog.holes:
                deleted.append(name)  # gone already (an earlier run was killed mid-way)
            continue
        entries = catalog.entries_of(name) or []
        needed = [e for e in entries if e.id in live and e.id not in held]
        if needed:
            report.kept.append(
                f"packs/{name}.pack kept: {len(needed)} object(s) a kept commit needs "
                "(pushed since the plan, or its replacement is missing)"
            )
            held.update(e.id for e in entries)
            continue
        if _locked(remote, [name], report):  # asked again: never assumed from the plan
            held.update(e.id for e in entries)
            continue
        size = catalog.packs[name]
        deleter.delete(pack_key(name))
        deleted.append(name)
        report.deleted.append(name)
        report.bytes_freed += size
    return deleted


def _trusted(entry: LogEntry, trusted: set[bytes]) -> bool:
    return entry.signature is not None and entry.signature.key in trusted


def _stamp(time_ns: int) -> str:
    moment = datetime.datetime.fromtimestamp(time_ns / 1e9, datetime.UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_grace(text: str) -> float:
    """``--grace``: seconds from ``0``, ``90s``, ``30m``, ``1h``, ``2d``."""
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    value, unit = (text[:-1], text[-1]) if text and text[-1] in units else (text, "s")
    if not value.isdigit():
        raise UsageError(f"--grace takes a duration such as 1h, 30m or 0, not {text!r}")
    return float(int(value) * units[unit])
