"""verify: prove that every object a ref needs is present and (with read_data) intact.

Findings name the damaged or missing object, a file that uses it and the refs that reach
it, so a user knows what is at stake before running repair.
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from dvault.errors import CorruptObject, CorruptPack, DvaultError, MissingObject, UsageError
from dvault.hashing import ObjectId, ObjectType
from dvault.impact import trace
from dvault.maintenance.ref_repair import damaged_refs
from dvault.maintenance.roots import ref_label, remote_only
from dvault.reachability import Reachable, ReadRaw, TypeOf, walk
from dvault.remote import released, shallow
from dvault.remote.backend import RemoteError, RemoteSpec
from dvault.remote.catalog import pack_key
from dvault.remote.logsign import audit as audit_log
from dvault.remote.logsign import refuse_untrusted
from dvault.remote.marker import MARKER
from dvault.remote.redaction import redactions
from dvault.remote.session import Remote, verify_stored
from dvault.repository import Repository
from dvault.signing import BAD, check, trusted_signers
from dvault.store import erased
from dvault.store.pack import PackEntry, check_pack_footer


@dataclass
class VerifyReport:
    objects: int = 0
    bytes_checked: int = 0
    problems: list[str] = field(default_factory=list)
    remote_only: set[ObjectId] = field(default_factory=set)
    """In a partial clone: objects a remote holds that this clone never fetched."""
    not_fetched: set[ObjectId] = field(default_factory=set)
    """Commits behind one fetched without its history (``.dvault/shallow``) whose trees
    were never fetched: not damage, brought by ``fetch --all-history``."""
    shallow: list[ObjectId] = field(default_factory=list)
    """The commits fetched without their history that the not-fetched ones are behind."""
    redacted: set[ObjectId] = field(default_factory=set)
    """Objects erased on purpose by ``dvault redact`` (store/erased.py): not damage."""
    released: dict[ObjectId, str] = field(default_factory=dict)
    """Commits whose contents a trusted forget released (remote/released.py), each with
    its line "commit ID: released by forget on DATE by USER (policy ...)": their
    history is checked, their trees and data are not needed (prune may delete them)."""
    released_json: list[dict[str, Any]] = field(default_factory=list)
    signatures: dict[str, int] = field(default_factory=dict)
    """How many commits and tags were good, bad, unknown (signer) or unsigned."""
    log: dict[str, Any] | None = None
    """A remote's ref log: entries, head (what ``clone --expect`` takes), holes, and the
    signatures of its entries (remote/logsign.py)."""

    @property
    def ok(self) -> bool:
        return not self.problems


class _SignatureAudit:
    """Checks the signature of every commit and tag a walk reads (they are read anyway,
    so this costs no extra I/O); a bad signature is damage, reported with its ref."""

    def __init__(self, repo: Repository, report: VerifyReport) -> None:

        self.signers = trusted_signers(repo.root)
        self.report = report
        self.bad: dict[bytes, str] = {}
        self.seen: set[bytes] = set()

    def wrap(self, read: ReadRaw) -> ReadRaw:

        def checked(oid: bytes) -> tuple[ObjectType, bytes]:
            kind, body = read(oid)
            if kind in (ObjectType.COMMIT, ObjectType.TAG) and oid not in self.seen:
                self.seen.add(oid)
                result = check(kind, body, self.signers)
                counts = self.report.signatures
                counts[result.status] = counts.get(result.status, 0) + 1
                if result.status == BAD:
                    self.bad[oid] = (
                        f"{kind.name.lower()} {oid.hex()} (key {result.fingerprint}): "
                        "it does not verify"
                    )
            return kind, body

        return checked

    def finish(self, owners: dict[bytes, str]) -> None:
        for oid, what in self.bad.items():
            self.report.problems.append(
                f"bad signature on {what}; reachable from {owners.get(oid, '?')}"
            )


def _describe(oid: bytes, found: Reachable, owners: dict[bytes, str]) -> str:
    path = found.paths.get(ObjectId(bytes(oid))) or found.missing.get(ObjectId(bytes(oid)))
    where = f" (file {path})" if path else ""
    return f"object {oid.hex()}{where}, reachable from {owners.get(oid, '?')}"


def _walk_refs(
    starts: dict[str, bytes],
    read: ReadRaw,
    type_of: TypeOf,
    report: VerifyReport,
    elsewhere: Callable[[bytes], bool] = lambda _oid: False,
    detail: bool = True,
    contents_gone: Callable[[bytes], bool] = lambda _oid: False,
) -> tuple[Reachable, dict[bytes, str]]:
    """Walk every ref into one set, attributing objects to the first ref that reaches them;
    objects ``elsewhere`` accepts (a partial clone's remote-only part) are counted, not
    walked. Without ``detail`` only commits, tags and missing objects get a path or an
    owner (at a million files, one of each per object is hundreds of MB); damage found
    later is described by impact.trace instead."""
    found = Reachable(keep_paths=detail)
    owners: dict[bytes, str] = {}

    def known(oid: bytes) -> bool:
        if elsewhere(oid):
            report.remote_only.add(ObjectId(bytes(oid)))
            return True
        return False

    for name, start in starts.items():
        commits_before, missing_before = len(found.commits), len(found.missing)
        target = Reachable() if detail else found  # detail: merged below, new objects only
        try:
            walk(
                read,
                type_of,
                [start],
                known=lambda o: o in found.objects or known(o),
                found=target,
                contents_gone=contents_gone,
            )
        except (CorruptObject, MissingObject, DvaultError) as exc:
            report.problems.append(f"{name}: {exc}")
            if detail:
                continue
        owners.setdefault(start, name)  # a tag, or the commit itself
        if detail:
            for oid, kind in target.objects.items():
                found.objects[oid] = kind
                owners.setdefault(oid, name)
            for oid, path in target.paths.items():
                found.paths.setdefault(oid, path)
            for oid, path in target.missing.items():
                found.missing.setdefault(oid, path)
                owners.setdefault(oid, name)
            continue
        for oid in itertools.chain(
            itertools.islice(found.commits, commits_before, None),
            itertools.islice(found.missing, missing_before, None),
        ):
            owners.setdefault(oid, name)
    return found, owners


def _note_released(report: VerifyReport, oid: bytes, release: released.Release) -> None:
    commit = ObjectId(bytes(oid))
    if commit not in report.released:
        report.released[commit] = released.describe(commit, release)
        report.released_json.append({"commit": commit.hex(), **release.to_json()})


def _unfetched_history(repo: Repository, report: VerifyReport) -> dict[str, bytes]:
    """Sort the history behind commits fetched without it (``.dvault/shallow``): a
    commit whose tree this store never held is "not fetched" (``report.not_fetched``,
    skipped by the walk); one whose tree is here must be whole, and is returned as a
    start of its own (its data is checked like any other). A commit the index lists but
    cannot read is left to the walk, which reports it as damage."""
    store = repo.store
    boundary = [c for c in sorted(shallow.load(repo.dir)) if store.type_of(c) is not None]
    starts: dict[str, bytes] = {}
    seen: set[bytes] = set(boundary)
    pending: list[tuple[bytes, ObjectId]] = []
    for tip in boundary:
        try:
            commit = repo.read_commit(tip)
        except DvaultError:
            continue  # the walk reports it
        pending += [(p, tip) for p in commit.parents]
        report.shallow.append(tip)
        starts[f"commit {tip.hex()[:12]} (fetched without its history)"] = tip
    while pending:
        oid, below = pending.pop()
        if oid in seen:
            continue
        seen.add(oid)
        if store.type_of(oid) is None:  # not even the commit: never fetched
            report.not_fetched.add(ObjectId(bytes(oid)))
            continue
        try:
            commit = repo.read_commit(oid)
        except DvaultError:
            continue  # listed here but unreadable: damage, reported by the walk
        if store.type_of(commit.tree) is None:
            report.not_fetched.add(ObjectId(bytes(oid)))
        else:
            starts[f"commit {oid.hex()[:12]} (history before {below.hex()[:12]})"] = oid
        pending += [(p, below) for p in commit.parents]
    return starts


SAMPLE_BUCKETS = 100


def _sample_window(repo: Repository, percent: int) -> set[int]:
    """The next ``percent`` of the 100 id buckets, rotating so repeated runs cover all."""
    if not 1 <= percent <= 100:
        raise UsageError("--sample takes a percentage from 1 to 100")
    start = repo.state.verify_cursor()
    window = {(start + i) % SAMPLE_BUCKETS for i in range(percent)}
    repo.state.set_verify_cursor((start + percent) % SAMPLE_BUCKETS)
    return window


def verify_local(
    repo: Repository, revs: list[str] | None, read_data: bool, sample: int | None = None
) -> VerifyReport:
    """Check the local store for ``revs`` (default: every branch, tag and HEAD).

    ``sample`` re-hashes only that percentage of the data, chosen by object id from a
    window that advances with each run, so ten runs at 10% cover everything.
    """
    report = VerifyReport()
    store = repo.store
    starts: dict[str, bytes] = {}
    if revs:
        for rev in revs:
            starts[rev] = repo.resolve(rev)
    else:
        bad_refs = damaged_refs(repo)
        for why in bad_refs.values():
            report.problems.append(f"{why}; dvault repair restores it from its history")
        try:
            _, head = repo.refs.head()
        except CorruptObject:
            head = None  # reported above, as HEAD or as the branch it names
        if head is not None and "HEAD" not in bad_refs:
            starts["HEAD"] = head
        good, _ = repo.refs.scan()
        starts.update(
            {
                ref_label(r): o
                for r, o in good.items()
                if r.startswith(("refs/heads/", "refs/tags/")) and r not in bad_refs
            }
        )
    for pack, reason in store.unreadable_packs.items():
        report.problems.append(f"pack {pack[:16]}: {reason}")
    on_disk = store.pack_files()
    for pack in sorted(set(store.index.pack_names.values()) - set(on_disk)):
        report.problems.append(f"pack {pack[:16]}: the index lists it but its file is gone")
    for pack, path in sorted(on_disk.items()):
        if pack not in store.unreadable_packs:  # indexed packs: is the footer still intact?
            try:
                check_pack_footer(path)
            except CorruptPack as exc:
                report.problems.append(f"pack {pack[:16]}: {exc}")
    partial = remote_only(repo)
    behind = _unfetched_history(repo, report)
    if not revs:  # fetched whole behind a boundary: checked like any commit a ref reaches
        for label, oid in behind.items():
            starts.setdefault(label, oid)
    not_fetched = report.not_fetched

    def elsewhere(oid: bytes) -> bool:
        return oid in not_fetched or partial(oid)

    recorded = released.load(repo.dir)

    def contents_gone(oid: bytes) -> bool:  # released, and fetched without its contents
        release = recorded.get(ObjectId(bytes(oid)))
        if release is None or store.type_of(repo.read_commit(oid).tree) is not None:
            return False
        _note_released(report, oid, release)
        return True

    audit = _SignatureAudit(repo, report)
    found, owners = _walk_refs(
        starts,
        audit.wrap(store.get_raw),
        store.type_of,
        report,
        elsewhere,
        detail=False,
        contents_gone=contents_gone,
    )
    report.remote_only -= not_fetched
    audit.finish(owners)
    erased_here = erased.erased(repo.dir)
    report.redacted = {oid for oid in found.missing if oid in erased_here}
    # id -> error, if read
    bad: dict[ObjectId, str] = {oid: "" for oid in found.missing if oid not in erased_here}
    report.objects = len(found.objects)
    window = _sample_window(repo, sample) if sample is not None else None
    if read_data or window is not None:
        # the bar's total: the packs' size (what is re-hashed is most of it)
        total = sum(path.stat().st_size for path in on_disk.values())
        blobs = [
            oid
            for oid, kind in found.objects.items()
            if kind == ObjectType.BLOB
            and (window is None or oid[0] * SAMPLE_BUCKETS // 256 in window)
        ]
        found.objects.clear()  # counted above; what follows needs only these blobs
        with repo.progress("verify", total) as tick:
            checked, damaged = store.reread(blobs, tick)  # in pack order, on every core
        report.bytes_checked += checked
        bad.update(damaged)
    if bad:
        impact = trace(store.get_raw, store.type_of, set(bad), starts)
        for oid, error in bad.items():
            described = impact[oid].describe() or _describe(oid, found, owners)
            what = f"damaged object {oid.hex()}" if error else f"missing object {oid.hex()}"
            report.problems.append(f"{what}: {described}" + (f" ({error})" if error else ""))
    return report


def verify_remote(repo: Repository, spec: RemoteSpec, read_data: bool) -> VerifyReport:
    """Check a remote: its ref log chain, and every object its refs need (re-hashed with
    ``read_data``)."""
    report = VerifyReport()
    remote = Remote(repo, spec)
    try:
        view = remote.log.load(full=True)
        if not view.refs and view.state.seq < 0 and remote.backend.size(MARKER) is None:
            raise RemoteError(
                f"remote {remote.describe()} holds no dvault data "
                "(wrong location, not mounted, or nothing pushed yet)"
            )
        remote.refresh_catalog()
    except RemoteError as exc:
        report.problems.append(str(exc))
        return report
    state = view.state
    report.problems += [hole.describe(remote.describe()) for hole in view.holes]
    # what fetch and push only warn about is damage here: a verify must fail on it
    report.problems += remote.tampering()
    report.problems += [
        f"remote {remote.describe()}: packs/{name}.pack cannot be read ({why})"
        for name, why in sorted(remote.catalog.holes.items())
    ]
    if remote.backend.version_blind:
        repo.warn(
            f"remote {remote.describe()}: this credential may not list object versions "
            "(s3:ListBucketVersions): a replaced file would go unnoticed"
        )
    forged = remote.log.problems(view)  # the graph check, over every entry of the log
    report.problems += forged
    try:
        refuse_untrusted(repo, view, remote.describe(), None)
    except RemoteError as exc:
        report.problems.append(str(exc))
    signatures = audit_log(repo, view)
    trusted = set(trusted_signers(repo.root).names)
    logged, refused = redactions(view, trusted)
    forgets = released.releases(view, trusted)  # only trusted entries release anything
    erased_here = {oid for item in logged for oid in item.record.objects}
    erased_here |= set(erased.erased(repo.dir))
    report.log = {
        "entries": state.seq + 1,
        "head_seq": state.head_seq,
        "head": state.head,
        "holes": [hole.seq for hole in view.holes],
        "signatures": signatures.to_json(),
        "describe": signatures.describe(),
        "redactions": [item.seq for item in logged],
        "refused_redactions": refused,
        "ignored_forgets": [item.describe(remote.describe()) for item in forgets.ignored],
    }
    if not forged:  # else not verified: every later fetch and verify must report it again
        remote.log.accept(view, report_holes=False)  # listed above already
    starts = {ref: bytes.fromhex(h) for ref, h in state.refs.items()}
    audit = _SignatureAudit(repo, report)
    try:
        pinned = forgets.pinned(state.refs, remote.read_object, remote.catalog.type_of)
    except (RemoteError, DvaultError):
        pinned = set(starts.values())  # the walk reports an unreadable tag
    kept_contents = released.skipper(forgets.commits, pinned, lambda _oid: False)

    def contents_gone(oid: bytes) -> bool:  # released: history checked, contents not needed
        if not kept_contents(oid):
            return False
        _note_released(report, oid, forgets.commits[bytes(oid).hex()])
        return True

    found, owners = _walk_refs(
        starts,
        audit.wrap(remote.read_object),
        remote.catalog.type_of,
        report,
        contents_gone=contents_gone,
    )
    audit.finish(owners)
    # packs that served a bad copy of a commit, tree or chunk list (another was intact)
    report.problems += list(remote.catalog.bad.values())
    for oid in found.missing:
        if oid in erased_here:  # erased on purpose (a trusted redaction), then pruned
            report.redacted.add(oid)
            continue
        report.problems.append(f"missing on {remote.describe()}: {_describe(oid, found, owners)}")
    report.objects = len(found.objects)
    if not read_data:
        return report
    located = (remote.catalog.locate(oid) for oid in found.objects)
    report.bytes_checked = sum(entry.stored_len for _, entry in filter(None, located))
    with repo.progress("verify", report.bytes_checked) as tick:
        report.problems += verify_remote_objects(remote, found, owners, tick)
    return report


def verify_remote_objects(
    remote: Remote,
    found: Reachable,
    owners: dict[bytes, str] | None = None,
    tick: Callable[[int], None] = lambda _n: None,
) -> list[str]:
    """Re-read and re-hash every object of ``found`` on ``remote``, one request per pack."""
    problems: list[str] = []
    by_pack: dict[str, list[tuple[ObjectId, PackEntry]]] = defaultdict(list)
    for oid in found.objects:
        located = remote.catalog.locate(oid)
        if located is not None:
            by_pack[located[0]].append((oid, located[1]))
    for pack, items in by_pack.items():
        items.sort(key=lambda item: item[1].offset)
        start = items[0][1].offset
        end = max(e.offset + e.stored_len for _, e in items)
        try:
            blob = remote.backend.read_exact(pack_key(pack), start, end - start)
        except RemoteError as exc:
            problems.append(str(exc))
            continue
        tick(sum(entry.stored_len for _, entry in items))
        for oid, entry in items:
            stored = blob[entry.offset - start : entry.offset - start + entry.stored_len]
            try:
                verify_stored(remote, oid, entry, stored, pack, found.paths.get(oid))
            except RemoteError as exc:
                remote.catalog.mark_bad(pack, str(exc))
                owner = (owners or {}).get(oid, "?")
                if len(remote.catalog.locations(oid)) > 1:  # is another copy intact?
                    try:
                        remote.read_object(oid)
                    except RemoteError:
                        pass
                    else:
                        problems.append(f"{exc} (another pack holds it intact)")
                        continue
                problems.append(f"{exc}; reachable from {owner}")
    return problems
