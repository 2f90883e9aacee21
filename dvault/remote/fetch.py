"""Fetch: bring in exactly the objects the requested refs (and paths) need (pull and clone,
which then check out, are operations: ops/sync.py).

Metadata (commits, trees, chunk lists, tags) is read first, object by object, with range
reads; then file data is brought in pack by pack: a whole pack is downloaded when most of
it is needed, otherwise only the needed objects are read with coalesced range reads. Every
object is decompressed and verified against its id before it is stored, and nothing is
written to the workspace until every object a checkout needs is in the local store (a
clone may meanwhile write file contents to scratch files under ``.dvault/tmp`` from the
verified bytes, see ``before_data`` and workspace/prefill.py).
"""

from __future__ import annotations

import contextlib
import os
from collections import defaultdict
from collections.abc import Callable, Collection, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Generic, TypeVar

from dvault.commitobjects import Commit, Tag
from dvault.errors import (
    CorruptObject,
    CorruptPack,
    UsageError,
)
from dvault.fsutil import fsync_dir
from dvault.hashing import ObjectId, ObjectType
from dvault.objects import decode
from dvault.reachability import ReadRaw, complete_commits, walk
from dvault.refs import HEADS, TAGS
from dvault.remote import released, shallow
from dvault.remote.backend import Backend, RemoteError, RemoteSpec
from dvault.remote.catalog import pack_key
from dvault.remote.confirmed import Confirmed
from dvault.remote.logsign import refuse_untrusted
from dvault.remote.marker import MARKER
from dvault.remote.redaction import record_redactions
from dvault.remote.reflog import LogView
from dvault.remote.session import Remote, record_tracking, verify_stored
from dvault.repository import Repository
from dvault.store import erased
from dvault.store.pack import PackCheck, PackEntry, check_pack, iter_footer

if TYPE_CHECKING:
    from dvault.store.objectstore import ObjectWriter

Tick = Callable[[int], None]
_T = TypeVar("_T")
CheckPack = Callable[[Path, str], PackCheck]
"""What checks a whole downloaded pack: :func:`check_pack`, or a stand-in that also
uses the verified bytes (a clone writes its files from them: workspace/prefill.py)."""
BeforeData = Callable[[], CheckPack | None]
"""Called once every metadata object is stored and indexed, before file data is
transferred; may return a :data:`CheckPack` to check the downloaded packs with."""

WHOLE_PACK_SHARE = 0.5
"""Download a whole pack when at least this share of its bytes is needed."""
GAP = 256 << 10
"""Range reads closer than this are merged into one request."""
THREADS = 8
INDEX_GROUP = 4
"""Downloaded packs indexed in one transaction at most (``ObjectIndex.add_packs``): at a
million objects in 52 packs, groups of 8 made the clone's peak higher in both runs (492 and
502 MiB against 471-484) and once its index file 18% larger; groups of 4 did neither in
two runs of three (469 and 481 MiB; 511 in the slowest run) and never the file."""


@dataclass
class FetchReport:
    refs: dict[str, str] = field(default_factory=dict)
    objects: int = 0
    bytes_received: int = 0
    packs_downloaded: int = 0
    ranges_read: int = 0
    verified_packs: list[str] = field(default_factory=list)
    """Packs downloaded whole and verified (confirmed on the remote for push)."""


def _wanted(state_refs: dict[str, str], names: list[str] | None) -> dict[str, str]:
    if not names:
        return dict(state_refs)
    wanted = {}
    for name in names:
        for full in (name, HEADS + name, TAGS + name):
            if full in state_refs:
                wanted[full] = state_refs[full]
                break
        else:
            raise UsageError(f"the remote has no branch or tag named {name!r}")
    return wanted


def fetch(
    repo: Repository,
    spec: RemoteSpec,
    names: list[str] | None = None,
    scopes: list[str] | None = None,
    history: bool = True,
    backend: Backend | None = None,
    all_history: bool = False,
) -> FetchReport:
    """Fetch refs (default: all) and the objects they need; updates remote-tracking refs
    and creates tags that do not exist locally (an existing tag is never moved).
    ``all_history`` also brings the history behind commits fetched without it (see
    :mod:`dvault.remote.shallow`), so that every commit is here whole.
    ``backend`` replaces the one ``spec`` names (tests inject faults through it)."""
    remote = Remote(repo, spec, backend)
    return fetch_view(repo, remote, remote.log.load(), names, scopes, history, all_history)


def fetch_commit(repo: Repository, spec: RemoteSpec, commit_id: bytes) -> FetchReport:
    """Bring one commit whole, without its history (the git hooks' fetch of a pinned
    commit; recorded in ``.dvault/shallow``). A remote that cannot be reached is named
    with the commit it was needed for, not as an object that is missing."""
    try:
        remote = Remote(repo, spec)
        remote.log.load()  # refuses a rewritten or truncated log; follows no ref, saves nothing
        remote.refresh_catalog()
        report = FetchReport()
        bring_in(repo, remote, [ObjectId(bytes(commit_id))], None, False, report)
    except RemoteError as exc:
        if type(exc) is not RemoteError:  # tampered, missing, undecryptable: as they are
            raise
        raise RemoteError(
            f"objects of {bytes(commit_id).hex()[:12]} are on remote {spec.name}, which cannot "
            f"be reached now (offline? {exc})"
        ) from None
    return report


def fetch_view(
    repo: Repository,
    remote: Remote,
    view: LogView,
    names: list[str] | None,
    scopes: list[str] | None,
    history: bool,
    all_history: bool = False,
    before_data: BeforeData | None = None,
) -> FetchReport:
    """Fetch what ``view`` (a loaded, not yet accepted ref log) names. The view is
    accepted — the graph check run, the verified position advanced — only after every
    object arrived (so the check reads the commit graph locally), and tracking refs move
    only then: a refused fetch moves nothing and reports the same again next time.
    ``before_data``: see :data:`BeforeData`."""
    state = view.state
    if not state.refs and state.seq < 0 and remote.backend.size(MARKER) is None:
        raise RemoteError(
            f"remote {remote.describe()} holds no dvault data "
            "(wrong location, not mounted, or nothing pushed yet)"
        )
    wanted = _wanted(state.refs, names)
    refuse_untrusted(repo, view, remote.describe(), list(wanted))
    record_redactions(repo, view)  # before the objects: what a redaction erased is not fetched
    # likewise the contents a trusted forget released (prune may have deleted them): the
    # released commits come without their trees, recorded first (remote/released.py)
    gone, unpinned = released.record(repo, view, remote.describe())
    report = FetchReport(refs=wanted)
    remote.refresh_catalog()
    starts = [ObjectId(bytes.fromhex(h)) for h in wanted.values()]
    pins = [ObjectId(bytes.fromhex(h)) for r, h in wanted.items() if r not in unpinned]
    bring_in(
        repo,
        remote,
        starts,
        scopes,
        history,
        report,
        all_history,
        released=(gone, pins),
        before_data=before_data,
    )
    remote.log.accept(view)
    record_tracking(repo.refs, remote, view, [r for r in wanted if r.startswith(HEADS)])
    for ref, hex_id in wanted.items():
        if ref.startswith(TAGS) and repo.refs.read(ref) is None:
            repo.refs.create_tag(ref[len(TAGS) :], ObjectId(bytes.fromhex(hex_id)))
    remote.warn_tampering()
    return report


def bring_in(
    repo: Repository,
    remote: Remote,
    starts: list[ObjectId],
    scopes: list[str] | None,
    history: bool,
    report: FetchReport,
    deepen: bool = False,
    released: tuple[Collection[str], list[ObjectId]] = ((), []),
    before_data: BeforeData | None = None,
) -> None:
    """Make every object reachable from ``starts`` (within ``scopes``) present locally.

    Without ``history`` only the start commits are brought whole (and the commit chain):
    they are recorded in ``.dvault/shallow`` first. ``deepen`` brings the history behind
    every recorded commit too, and then forgets them all. ``released`` is (the commits a
    trusted forget released, hex ids recorded in ``.dvault/released.json``; the starts
    that keep their commit whatever was released): those commits are brought without
    their contents unless a keeping start names one.

    Metadata read from the remote during the walk is stored as it arrives (as the
    remote stored it: verified, not compressed again), so none of it is held in memory.
    A pack that serves a copy failing its hash is marked bad and what it was to provide
    is planned again from the other packs listing it (anyone who can create a pack can
    list any id). What arrived verified is recorded as confirmed on the remote
    (remote/confirmed.py), so a later push need not send it back.
    """
    store = repo.store
    # nothing local yet: every object of a full fetch is read from the remote, verified
    fresh = history and scopes is None and not store.pack_files()
    confirmed = Confirmed.load(remote.dir)
    confirmed.validate(remote.catalog.packs)
    boundary = shallow.load(repo.dir)
    if not history and scopes is None:
        shallow.add(repo.dir, starts)
    elif deepen:
        starts = [*starts, *(c for c in sorted(boundary) if store.has(c))]
    with store.writer() as writer:
        while True:
            try:
                _bring_in_once(
                    repo,
                    remote,
                    starts,
                    scopes,
                    history,
                    report,
                    writer,
                    boundary,
                    released,
                    before_data,
                )
                break
            except _BadCopies as bad:
                writer.flush()  # what arrived is kept; only the bad packs' part is planned again
                if not bad.new:
                    raise bad.error from None
        confirmed.packs.update(report.verified_packs)
    for why in remote.catalog.bad.values():  # reported now that other copies did the job
        repo.warn(f"{why}; other packs provided its objects")
    confirmed.mirrors.update(writer.names)  # every object in them was read here, verified
    if fresh:
        confirmed.add_commits([oid.hex() for oid in starts if _is_commit(repo, oid)])
    confirmed.save(remote.catalog.packs)
    if deepen:  # objects first (the writer flushed them), then the record
        shallow.clear(repo.dir)


def _is_commit(repo: Repository, oid: bytes) -> bool:
    return repo.store.type_of(oid) == ObjectType.COMMIT


class _BadCopies(Exception):
    """Some packs served copies failing their hash (``new``: not known bad before)."""

    def __init__(self, new: bool, error: RemoteError) -> None:
        super().__init__(str(error))
        self.new = new
        self.error = error


def _bring_in_once(
    repo: Repository,
    remote: Remote,
    starts: list[ObjectId],
    scopes: list[str] | None,
    history: bool,
    report: FetchReport,
    writer: ObjectWriter,
    boundary: set[ObjectId],
    released_ids: tuple[Collection[str], list[ObjectId]] = ((), []),
    before_data: BeforeData | None = None,
) -> None:
    store = repo.store

    def keep(entry: PackEntry, stored: bytes) -> None:
        if not writer.has(entry.id):  # a commit re-read by a partial fetch is put once
            writer.put_prepared(entry.id, entry.type, entry.compression, stored, entry.raw_len)
            report.objects += 1
        report.ranges_read += 1

    def read(oid: bytes) -> tuple[ObjectType, bytes]:
        if store.has(oid):
            result: tuple[ObjectType, bytes] = store.get_raw(oid)
            return result
        return remote.read_object(oid, keep=keep)

    def type_of(oid: bytes) -> ObjectType | None:
        return store.type_of(oid) or remote.catalog.type_of(oid)

    # Complete locally: commits local refs reach (refs are written after their
    # objects), unless this is a partial clone, and blobs (they reference nothing). A
    # commit or tree merely present may be left over from an interrupted fetch
    # without its data.
    tips = [] if repo.state.sparse() is not None else _local_tips(repo)
    # (the parents of a commit fetched without its history are not known complete)
    done = complete_commits(
        lambda oid: [] if oid in boundary else _parents_if_local(repo, oid), tips
    )

    gone = erased.erased(repo.dir)  # erased on purpose (dvault redact): never fetched

    def known(oid: bytes) -> bool:
        return oid in done or store.type_of(oid) == ObjectType.BLOB or oid in gone

    gone_ids, pins = released_ids
    pinned = released.peel(read, type_of, pins) if gone_ids else set()
    gone_contents = released.skipper(gone_ids, pinned, lambda _oid: False)
    reach = walk(
        read,
        type_of,
        starts,
        known=known,
        history=history,
        scopes=scopes,
        paths=False,
        contents_gone=gone_contents,
    )
    if not history:
        _fetch_commit_chain(starts, read)
    if reach.missing:
        oid, path = next(iter(reach.missing.items()))
        raise RemoteError(
            f"remote {remote.describe()}: object {oid.hex()} needed by {path} is missing "
            f"({len(reach.missing)} object(s) missing); nothing was changed locally"
        )
    # what is still needed: the walk's own set, less what is here (no second set)
    needed = reach.objects
    del reach
    here = [oid for oid in needed if writer.has(oid)]
    for oid in here:
        del needed[oid]
    del here
    _transfer(repo, remote, needed, writer, report, before_data)


def _local_tips(repo: Repository) -> list[bytes]:
    tips: list[bytes] = [*repo.refs.branches().values(), *repo.refs.tags().values()]
    _, head = repo.refs.head()
    if head is not None:
        tips.append(head)
    base = repo.dir / "refs" / "remotes"
    if base.is_dir():
        for path in base.rglob("*"):
            if path.is_file():
                oid = repo.refs.read(path.relative_to(repo.dir).as_posix())
                if oid is not None:
                    tips.append(oid)
    return tips


def _parents_if_local(repo: Repository, oid: bytes) -> list[bytes] | None:
    kind = repo.store.type_of(oid)
    if kind == ObjectType.TAG:
        tag = repo.store.get(oid, ObjectType.TAG)
        return [tag.object] if isinstance(tag, Tag) else None
    if kind != ObjectType.COMMIT:
        return None
    return list(repo.read_commit(oid).parents)


def _fetch_commit_chain(starts: list[ObjectId], read: ReadRaw) -> None:
    """For partial fetches: every commit object of the history (tiny), so ``log`` works;
    their trees and data are not fetched."""
    pending = list(starts)
    seen: set[bytes] = set()
    while pending:
        oid = pending.pop()
        if oid in seen:
            continue
        seen.add(oid)
        kind, body = read(oid)
        obj = decode(kind, body)
        if isinstance(obj, Tag):
            pending.append(obj.object)
        elif isinstance(obj, Commit):
            pending.extend(obj.parents)


def _transfer(
    repo: Repository,
    remote: Remote,
    needed: dict[ObjectId, ObjectType],
    writer: ObjectWriter,
    report: FetchReport,
    before_data: BeforeData | None = None,
) -> None:
    """Bring in ``needed`` (emptied here once the transfer is planned: at a million
    objects it and the remote catalog are most of a clone's memory, and a clone that
    downloads whole packs needs neither while indexing them). ``before_data`` is called
    after that, so that what it plans does not share the peak with them."""
    # first the bytes needed per pack, then entries only for packs read in part: a clone
    # downloads whole packs, and a million (id, entry) pairs would cost ~300 MB
    share: dict[str, int] = defaultdict(int)
    for oid in needed:
        found = remote.catalog.locate(oid)
        if found is None:
            raise RemoteError(f"remote {remote.describe()}: object {oid.hex()} is missing")
        if found[0] in remote.catalog.bad:  # every pack listing it served a bad copy
            raise RemoteError(
                f"object {oid.hex()}: no intact copy on the remote; {remote.catalog.bad[found[0]]}"
            )
        share[found[0]] += found[1].stored_len
    whole: list[str] = []
    by_pack: dict[str, list[tuple[ObjectId, PackEntry]]] = {}
    for pack, wanted in share.items():
        if wanted / max(1, remote.catalog.packs[pack]) >= WHOLE_PACK_SHARE:
            whole.append(pack)
        else:
            by_pack[pack] = []
    if by_pack:
        for oid in needed:
            located = remote.catalog.locate(oid)
            assert located is not None
            if located[0] in by_pack:
                by_pack[located[0]].append((oid, located[1]))
    needed.clear()
    remote.catalog.release()
    check: CheckPack = check_pack
    if before_data is not None:
        writer.flush()  # the metadata sealed and indexed: readable through the store
        check = before_data() or check_pack
    total = sum(remote.catalog.packs[p] for p in whole) + sum(share[p] for p in by_pack)
    bad: dict[str, str] = {}
    with repo.progress("fetch", total) as tick, ThreadPoolExecutor(THREADS) as pool:
        downloads = [
            pool.submit(_download_pack, repo, remote, pack, tick, writer, check) for pack in whole
        ]
        reads = [
            pool.submit(_read_ranges, remote, pack, items, writer, tick, bad)
            for pack, items in by_pack.items()
        ]
        group: list[tuple[str, bytes, int, int]] = []  # downloaded, not yet indexed

        def index_group() -> None:
            """Index the downloaded packs of ``group`` in one transaction (once: a group
            that fails to index is not tried again on the way out)."""
            taken = group[:]
            group.clear()
            counted = [
                (name, _Counted(iter_footer(footer, at, f"pack {name}")))
                for name, footer, at, _ in taken
            ]
            repo.store.index.add_packs(counted)
            if not by_pack:  # no thread reads the index meanwhile: unmap what it touched
                repo.store.index.release_pages()
            for (name, _, _, size), (_, count) in zip(taken, counted, strict=True):
                report.packs_downloaded += 1
                report.bytes_received += size
                report.objects += count.count
                report.verified_packs.append(name)

        try:
            for i, (pack, download) in enumerate(zip(whole, downloads, strict=True)):
                got = download.result()
                if len(got) == 2:  # the pack failed verification: intact objects were kept
                    bad[pack] = got[0]
                    report.objects += got[1]
                    continue
                group.append(got)
                # each download is durable (synced, renamed) before it is indexed; a group
                # grows while the next download is already done, up to INDEX_GROUP packs
                ready = i + 1 < len(downloads) and downloads[i + 1].done()
                if not ready or len(group) >= INDEX_GROUP:
                    index_group()
        finally:  # on a failed download too: what arrived whole is kept, as one by one
            if group:
                index_group()
        for read in reads:
            count, received = read.result()
            report.ranges_read += count
            report.bytes_received += received
            report.objects += count
    if bad:
        new = False
        for pack, why in bad.items():
            new |= remote.catalog.mark_bad(pack, why)
        raise _BadCopies(new, RemoteError(next(iter(bad.values()))))


class _Counted(Generic[_T]):
    """An iterable that counts what it yields (objects indexed from a footer stream)."""

    def __init__(self, items: Iterable[_T]) -> None:
        self.items = items
        self.count = 0

    def __iter__(self) -> Iterator[_T]:
        for item in self.items:
            self.count += 1
            yield item


def _download_pack(
    repo: Repository,
    remote: Remote,
    name: str,
    tick: Tick,
    writer: ObjectWriter,
    check: CheckPack = check_pack,
) -> tuple[str, bytes, int, int] | tuple[str, int]:
    """Download a whole pack (bounded by its listed size), verify it (its name, footer and
    every object: :func:`check_pack`), then move it into place; returns its footer (56
    bytes an object, against ~280 parsed) for indexing. A pack that fails is not kept:
    its intact objects are stored one by one and (why, how many) is returned, so only the
    damaged ones are looked for in other packs."""
    store = repo.store
    tmp = store.tmp_dir / f"fetch-{os.getpid()}-{name[:16]}.tmp"
    with contextlib.suppress(FileNotFoundError):
        tmp.unlink()
    try:
        expected = remote.catalog.packs[name]
        remote.backend.download(pack_key(name), tmp, tick, limit=expected)
        if tmp.stat().st_size != expected:
            raise RemoteError(
                f"remote {remote.describe()}: short download of pack {name[:16]} "
                f"({tmp.stat().st_size} of {expected} bytes); the transfer was cut"
            )
        where = f"remote {remote.describe()}"
        try:
            found = check(tmp, name)
        except (CorruptPack, CorruptObject) as exc:
            return f"{where}: {exc}", 0
        if not found.ok:
            misnamed = f"pack {name[:16]} is not named after its content"
            why = next(iter(found.damaged.values()), misnamed)
            return f"{where}: {why}", _salvage(tmp, found, writer)
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        final = store.packs_dir / f"{name}.pack"
        if not final.exists():
            os.rename(tmp, final)
        fsync_dir(store.packs_dir)
        return name, found.footer, found.footer_offset, final.stat().st_size
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


def _salvage(tmp: Path, found: PackCheck, writer: ObjectWriter) -> int:
    """Store the intact objects of a downloaded pack that failed (each one verified)."""
    count = 0
    with open(tmp, "rb") as f:
        for entry in iter_footer(found.footer, found.footer_offset, tmp.name):
            if entry.id in found.damaged or writer.has(entry.id):
                continue
            f.seek(entry.offset)
            stored = f.read(entry.stored_len)
            writer.put_prepared(entry.id, entry.type, entry.compression, stored, entry.raw_len)
            count += 1
    return count


def _read_ranges(
    remote: Remote,
    pack: str,
    items: list[tuple[ObjectId, PackEntry]],
    writer: ObjectWriter,
    tick: Tick,
    bad: dict[str, str],
) -> tuple[int, int]:
    """Read the needed objects of one pack with as few range requests as possible; a
    copy that fails its hash is left out and its pack noted in ``bad``."""
    items = sorted(items, key=lambda item: item[1].offset)
    groups: list[list[tuple[ObjectId, PackEntry]]] = []
    for item in items:
        if groups:
            last = groups[-1][-1][1]
            if item[1].offset - (last.offset + last.stored_len) <= GAP:
                groups[-1].append(item)
                continue
        groups.append([item])
    received = count = 0
    for group in groups:
        start = group[0][1].offset
        end = group[-1][1].offset + group[-1][1].stored_len
        blob = remote.backend.read_exact(pack_key(pack), start, end - start)
        received += len(blob)
        for oid, entry in group:
            stored = blob[entry.offset - start : entry.offset - start + entry.stored_len]
            try:
                verify_stored(remote, oid, entry, stored, pack, None)
            except RemoteError as exc:
                bad.setdefault(pack, str(exc))
                continue
            writer.put_prepared(oid, entry.type, entry.compression, stored, entry.raw_len)
            count += 1
        tick(end - start)
    return count, received
