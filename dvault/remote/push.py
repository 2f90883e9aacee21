"""Push: send a remote the packs it lacks, then append the ref updates to its log.

Order matters for the append-only guarantee: every object a ref needs is uploaded and
confirmed present before the ref-log entry that makes the ref visible is created. An
interrupted push leaves only complete, unreferenced packs behind; the next push finds
them confirmed and does not send them again.

"Present" is what this clone confirmed, never what the remote claims (a ref-log entry
naming a commit, a footer listing an id): see :mod:`dvault.remote.confirmed`.

What a push sends by default is the current branch plus every local tag that points
into the history it sends (git's ``push.followTags``, for lightweight and annotated tags
alike): a tagged version is backed up with the branch it is on. A tag never moves on a
remote, so one already there with another value refuses the whole push (one ref-log
entry: all of its refs or none). A dry run does every check and counts the packs, then
stops before anything is uploaded, appended or recorded.
"""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from dvault.commitobjects import Tag
from dvault.errors import (
    CheckFailed,
    MissingObject,
    RefExists,
    UsageError,
)
from dvault.hashing import ObjectId, ObjectType
from dvault.identity import author
from dvault.objects import chunk_refs
from dvault.reachability import Reachable, complete_commits, walk
from dvault.refs import HEADS, TAGS
from dvault.remote.backend import (
    AlreadyExists,
    Backend,
    RemoteError,
    RemoteNotFound,
    RemoteSpec,
)
from dvault.remote.catalog import PACK_PREFIX, pack_key
from dvault.remote.confirmed import Confirmed
from dvault.remote.intact import RENAMED, Intact, confirm_existing, renamed_copies
from dvault.remote.interrupt import (
    INTERRUPTED,
    interrupted,
    interrupted_packs,
    sigint_held,
)
from dvault.remote.logsign import push_signer
from dvault.remote.marker import MARKER
from dvault.remote.reflog import IMMUTABLE, LogState, is_protected
from dvault.remote.registry import directory_of
from dvault.remote.session import Remote, record_tracking
from dvault.repository import Repository
from dvault.signing import refuse_unsigned
from dvault.store import erased

UPLOAD_THREADS = 4
PINS = "refs/pins/"

Announce = Callable[[dict[str, tuple[str | None, str]]], None]
"""Hears the ref updates a push is about to append: ref -> (old value or None, new)."""


@dataclass
class PushReport:
    updated: dict[str, str] = field(default_factory=dict)
    packs_sent: int = 0
    packs_skipped: int = 0
    bytes_sent: int = 0
    up_to_date: bool = False
    log_seq: int = -1
    """The position of the ref-log entry at the head of the chain after the push."""
    log_head: str = ""
    """Its blake3: what ``clone --expect`` takes, to publish as a trust anchor."""
    signed: bool = False
    planned: dict[str, tuple[str | None, str]] = field(default_factory=dict)
    """Ref -> (its value on the remote before, or None; the value pushed): every ref the
    push sends, filled in a dry run too."""
    followed: list[str] = field(default_factory=list)
    """The tags among them that were not named but point into the pushed history."""
    dry_run: bool = False
    packs_to_send: int = 0
    """In a dry run: the packs that would be uploaded, and their bytes (``bytes_to_send``);
    ``packs_skipped`` counts those already there."""
    bytes_to_send: int = 0
    erased_again: list[str] = field(default_factory=list)
    """One line per pushed file whose content a redaction here erased: not sent."""
    packs_resumed: int = 0
    """Packs an interrupted push of this clone left on the remote that this push did not
    send again (counted in ``packs_skipped`` too)."""


def _resolve_refs(
    repo: Repository, names: list[str] | None, all_refs: bool = False, tags: bool = True
) -> dict[str, ObjectId]:
    """Full ref name -> id for what to push (default: the current branch; ``all_refs``:
    every branch, and every tag unless ``tags`` is false)."""
    if all_refs:
        if names:
            raise UsageError("push --all sends every branch and tag; name none with it")
        every = {HEADS + name: oid for name, oid in repo.refs.branches().items()}
        if tags:
            every.update((TAGS + name, oid) for name, oid in repo.refs.tags().items())
        if not every:
            raise UsageError("no branch or tag to push")
        return every
    if not names:
        branch, head = repo.refs.head()
        if branch is None or head is None:
            raise UsageError("HEAD is not on a branch with commits; name what to push")
        return {HEADS + branch: head}
    refs: dict[str, ObjectId] = {}
    for name in names:
        if name == "HEAD":
            refs.update(_head_ref(repo))
            continue
        for full in (name, HEADS + name, TAGS + name):
            if full.startswith(("refs/heads/", "refs/tags/")):
                oid = repo.refs.read(full)
                if oid is not None:
                    refs[full] = oid
                    break
        else:
            raise UsageError(f"no branch or tag named {name!r} to push")
    return refs


def _head_ref(repo: Repository) -> dict[str, ObjectId]:
    """What ``push REMOTE HEAD`` sends: HEAD's branch; a detached HEAD (data at a pin the
    hooks checked out, or a commit made there) as the immutable pin ``refs/pins/<id>``,
    as pre-push sends a git commit's data. No branch is guessed for it."""
    branch, head = repo.refs.head()
    if head is None:
        raise UsageError("HEAD has no commit yet; nothing to push")
    if branch is not None:
        return {HEADS + branch: head}
    return {f"{PINS}{head.hex()}": head}


def _local_parents(repo: Repository, oid: bytes) -> list[bytes] | None:
    if repo.store.type_of(oid) != ObjectType.COMMIT:
        return None
    return list(repo.read_commit(oid).parents)


def _peeled(repo: Repository, oid: bytes) -> bytes | None:
    """The commit a ref's value names, through annotated tags; None when it names
    something else or an object this clone does not have."""
    for _ in range(16):
        if not repo.store.has(oid):
            return None
        kind = repo.store.type_of(oid)
        if kind == ObjectType.COMMIT:
            return oid
        if kind != ObjectType.TAG:
            return None
        tag = repo.store.get(oid, ObjectType.TAG)
        assert isinstance(tag, Tag)
        oid = tag.object
    return None


def followed_tags(
    repo: Repository, wanted: dict[str, ObjectId], remote_refs: dict[str, str]
) -> dict[str, ObjectId]:
    """The local tags, not in ``wanted`` and not already on the remote with their value,
    whose commit is in the history ``wanted`` sends (git's ``push.followTags``)."""
    candidates = {
        TAGS + name: oid
        for name, oid in repo.refs.tags().items()
        if TAGS + name not in wanted and remote_refs.get(TAGS + name) != oid.hex()
    }
    if not candidates:
        return {}
    tips = [c for c in (_peeled(repo, oid) for oid in wanted.values()) if c is not None]
    history = complete_commits(lambda oid: _local_parents(repo, oid), tips)
    return {ref: oid for ref, oid in candidates.items() if _peeled(repo, oid) in history}


def is_ancestor(repo: Repository, old: bytes, new: bytes) -> bool:
    """True when commit ``old`` is ``new`` or one of its ancestors (locally known)."""
    if old == new:
        return True
    seen: set[bytes] = set()
    pending = [new]
    while pending:
        oid = pending.pop()
        if oid == old:
            return True
        if oid in seen or not repo.store.has(oid):
            continue
        seen.add(oid)
        pending.extend(repo.read_commit(oid).parents)
    return False


def _checker(
    repo: Repository,
    wanted: dict[str, ObjectId],
    force: bool,
    remote: Remote,
    followed: frozenset[str] = frozenset(),
) -> Callable[[LogState], None]:
    def check(state: LogState) -> None:
        for ref, new in wanted.items():
            current = state.refs.get(ref)
            if current is None or current == new.hex():
                continue
            if ref.startswith(IMMUTABLE):
                raise RefExists(
                    f"tag {ref[len(TAGS) :]!r} already exists on {remote.describe()} with a "
                    "different value; tags never move"
                    + (" (push --no-tags to leave it out)" if ref in followed else "")
                )
            protected = is_protected(ref, state.protected)
            if force and not protected:
                continue
            old = bytes.fromhex(current)
            if protected and not (repo.store.has(old) and is_ancestor(repo, old, new)):
                raise CheckFailed(
                    f"push to {ref} on {remote.describe()} refused: the branch is protected "
                    "there and only fast-forwards, even with --force"
                    + ("" if repo.store.has(old) else " (dvault fetch first)")
                )
            if not repo.store.has(old):
                raise CheckFailed(
                    f"{remote.describe()} has commits on {ref} that you do not have; "
                    "dvault fetch first (or push --force to append a forced update)"
                )
            if not is_ancestor(repo, old, new):
                raise CheckFailed(
                    f"push to {ref} on {remote.describe()} is not a fast-forward; "
                    "use --force to append a forced update (the old history stays)"
                )

    return check


def push(
    repo: Repository,
    spec: RemoteSpec,
    names: list[str] | None = None,
    force: bool = False,
    sign: bool | None = None,
    *,
    tags: bool = True,
    all_refs: bool = False,
    dry_run: bool = False,
    announce: Announce | None = None,
) -> PushReport:
    """Push local branches or tags by name (default: the current branch), with the tags
    that point into what is pushed unless ``tags`` is false; ``all_refs``: every branch
    and tag. ``sign``: sign the ref-log entry (None: as ``[push] sign`` says, see
    remote/logsign.py). ``dry_run``: check and count, change nothing. ``announce`` hears
    the ref updates (ref -> (old or None, new)) once every check passed, before anything
    is uploaded or appended."""
    wanted = _resolve_refs(repo, names, all_refs, tags)
    follow = tags and not all_refs
    return push_refs(
        repo,
        spec,
        wanted,
        force,
        sign=sign,
        follow_tags=follow,
        dry_run=dry_run,
        announce=announce,
    )


def push_refs(
    repo: Repository,
    spec: RemoteSpec,
    wanted: dict[str, ObjectId],
    force: bool = False,
    backend: Backend | None = None,
    sign: bool | None = None,
    follow_tags: bool = False,
    dry_run: bool = False,
    announce: Announce | None = None,
) -> PushReport:
    """Push full ref names to ids (``refs/pins/<id>`` for data pinned by git commits);
    ``follow_tags``: with the local tags that point into their history.

    ``backend`` replaces the one ``spec`` names (tests inject faults through it)."""
    remote = Remote(repo, spec, backend)
    report = PushReport(dry_run=dry_run)
    view = remote.log.load()
    # entries others pushed since this clone last looked pass the graph check (parents
    # read from the remote when not here) before anything is built on them; a dry run
    # checks them without recording the new position
    if dry_run:
        remote.log.check(view)
        state = view.state
    else:
        state = remote.log.accept(view)
    report.log_seq, report.log_head = state.head_seq, state.head
    followed = followed_tags(repo, wanted, state.refs) if follow_tags else {}
    report.followed = sorted(followed)
    pending = {
        ref: oid for ref, oid in {**wanted, **followed}.items() if state.refs.get(ref) != oid.hex()
    }
    report.planned = {ref: (state.refs.get(ref), oid.hex()) for ref, oid in pending.items()}
    if not pending:
        report.up_to_date = True
        if not dry_run:
            record_tracking(repo.refs, remote, view)
        return report
    check = _checker(repo, pending, force, remote, frozenset(followed))
    check(state)  # refuse early, before uploading anything

    # a missing or unusable key fails before any upload (a dry run signs nothing)
    signer = None if dry_run else push_signer(repo, sign)
    remote.refresh_catalog()
    confirmed = Confirmed.load(remote.dir)
    confirmed.validate(remote.catalog.packs)
    confirmed.drop_planned(set(state.planned))  # packs a prune plan will delete: absent
    # What is new on each ref (for require-signed) is what its remote value does not
    # reach: a policy question. Whether data is *there* is not answered by the ref log
    # (anyone who can append to it can name any commit id) but by what this clone
    # confirmed itself (remote/confirmed.py).

    on_refs = complete_commits(
        lambda oid: _local_parents(repo, oid), [bytes.fromhex(h) for h in state.refs.values()]
    )
    refuse_unsigned(repo, dict(pending), on_refs.__contains__, remote.describe())
    del on_refs
    done = complete_commits(lambda oid: _local_parents(repo, oid), confirmed.commit_ids())
    intact = Intact(repo, remote, confirmed, frozenset(state.planned))
    store = repo.store

    gone = erased.erased(repo.dir)  # {} unless this clone has an erasure record

    def known(oid: bytes) -> bool:  # an erased blob is walked: the push must name it
        return oid in done or (intact.blob(oid) and oid not in gone)

    # the set of ids only: a path per object would cost ~80 bytes each at a million files
    reach = _reachable(repo, list(pending.values()), known)
    # a partial clone never had the data outside its paths: it can only take the remote's
    # word for it (verify --remote --read-data checks it); what redact erased: never sent
    lacking = {o: p for o, p in reach.missing.items() if not (remote.catalog.has(o) or o in gone)}
    if lacking:
        oid, path = next(iter(lacking.items()))
        raise MissingObject(
            f"cannot push: object {oid.hex()} (file {path}) is missing locally "
            f"({len(lacking)} missing; run dvault verify)"
        )
    # objects not confirmed there, looked up in key order: the index's pages are then
    # read front to back, each faulted in once
    again = {oid for oid in reach.objects if oid in gone} if gone else set()
    report.erased_again = _erased_again(repo, pending, known, again, gone)
    absent_ids = sorted(oid for oid in reach.objects if not intact.any(oid) and oid not in again)
    del reach
    numbers: set[int] = set()
    with store.index.read_txn() as txn:
        for oid in absent_ids:
            number = store.index.pack_number(oid, txn)
            if number is None:  # walked, so readable a moment ago: the index changed
                raise MissingObject(
                    f"cannot push: object {oid.hex()} vanished from the local store "
                    "(run dvault verify)"
                )
            numbers.add(number)
    del absent_ids  # every object not confirmed there is in one of these packs
    packs = {store.index.pack_name(n): 0 for n in sorted(numbers)}
    for name in packs:
        packs[name] = (store.packs_dir / f"{name}.pack").stat().st_size
    todo = [name for name in packs if name not in confirmed.packs]
    drop: dict[str, set[ObjectId]] = {}  # erased bytes added again: left out of what is sent
    for oid in again:
        located = store.index.lookup(oid)
        if located is not None and store.index.pack_name(located[0]) in todo:
            drop.setdefault(store.index.pack_name(located[0]), set()).add(oid)
    report.packs_skipped = len(packs) - len(todo)
    # the packs an interrupted push landed: confirmed, so not in ``packs`` any more
    resumed = interrupted_packs(remote) & confirmed.packs & set(store.pack_files())
    report.packs_resumed = len(resumed)
    report.packs_skipped += len(resumed)
    if dry_run:  # what _send would upload: packs the remote does not list at all
        there = set(remote.catalog.packs) | set(remote.catalog.holes)
        upload = [name for name in todo if name not in there or name in state.planned]
        report.packs_to_send = len(upload)
        report.bytes_to_send = sum(packs[name] for name in upload)
        report.packs_skipped += len(todo) - len(upload)
        return report
    if announce is not None:  # every check passed: say what is about to be appended
        announce(report.planned)
    if todo:
        _check_marked(repo, remote)
        remote.ensure_marker()
    files = {name: store.packs_dir / f"{name}.pack" for name in packs}
    try:
        # a pack an open prune plan names is never relied on: a copy of another name goes
        # (so is one holding erased bytes added again, without them)
        for name, copy in renamed_copies(repo, remote, todo, set(state.planned), drop).items():
            del packs[name], files[name]
            todo.remove(name)
            if copy is not None:  # None: every object of the pack was erased here
                files[copy.stem], packs[copy.stem] = copy, copy.stat().st_size
                todo.append(copy.stem)
        _send(repo, remote, todo, packs, files, confirmed, report, resumed)
        # a protected branch only fast-forwards (checked above): never mark its entry force
        updates = [
            (ref, oid.hex(), force and not is_protected(ref, state.protected))
            for ref, oid in pending.items()
        ]
        who = author(repo.config, repo.root)  # as git says: the person, not the login
        final, report.log_head = remote.log.append(updates, check, signer, who)
        report.log_seq, report.signed = final.state.head_seq, signer is not None
        report.updated = {ref: final.refs[ref] for ref in pending}
        confirmed.add_commits([oid.hex() for oid in pending.values() if _is_commit(repo, oid)])
    finally:  # what was confirmed stays confirmed, even when an upload or the append failed
        confirmed.save(remote.catalog.packs)
        shutil.rmtree(remote.dir / RENAMED, ignore_errors=True)
    with contextlib.suppress(OSError):
        (remote.dir / INTERRUPTED).unlink(missing_ok=True)
    record_tracking(repo.refs, remote, final)
    remote.warn_tampering()
    return report


def _reachable(
    repo: Repository, starts: list[ObjectId], known: Callable[[bytes], bool]
) -> Reachable:
    """Every object ``starts`` reach that ``known`` rejects (``reachability.walk``), with
    the files' types looked up after the trees are walked, in key order.

    The walk asks whether each file is a blob or a chunk list; asked in tree order, a
    million random ids fault a million index pages, again and again as the map is
    released to keep push's memory flat (~18% of a 1M push's CPU, most of it in the
    kernel). Sorted, the index is read front to back. The walk first takes every file
    for a blob; then the chunk lists among them are read and their chunks checked the
    same way. Anything not in the local store sends the push to the plain walk, which
    says exactly what is missing and names its file (and skips lineage sources that were
    never kept here), as it always did."""
    store = repo.store
    files: list[bytes] = []

    def assume_blob(oid: bytes) -> ObjectType:
        files.append(oid)
        return ObjectType.BLOB

    def exact() -> Reachable:
        with store.index.read_txn() as txn:  # one read transaction, not one a file

            def type_of(oid: bytes) -> ObjectType | None:
                return store.index.type_of(oid, txn)

            return walk(store.get_raw, type_of, starts, known=known, paths=False)

    reach = walk(store.get_raw, assume_blob, starts, known=known, paths=False)
    files.sort()
    lists: list[bytes] = []
    with store.index.read_txn() as txn:
        for oid in files:
            kind = store.index.type_of(oid, txn)
            if kind is None:
                return exact()
            if kind == ObjectType.CHUNKS:
                lists.append(oid)
    files.clear()  # before the caller's own sorted list of ids: memory
    chunks: list[bytes] = []
    for oid in lists:
        reach.objects[ObjectId(oid)] = ObjectType.CHUNKS
        _, body = store.get_raw(oid)
        for chunk_id, _length in chunk_refs(body)[1]:  # streamed, as the walk does
            if chunk_id in reach.objects or known(chunk_id):
                continue
            reach.add(chunk_id, ObjectType.BLOB)
            chunks.append(chunk_id)
    chunks.sort()
    with store.index.read_txn() as txn:
        if any(store.index.type_of(oid, txn) is None for oid in chunks):
            return exact()
    return reach


def _erased_again(
    repo: Repository,
    pending: dict[str, ObjectId],
    known: Callable[[bytes], bool],
    again: set[ObjectId],
    gone: dict[ObjectId, erased.Redaction],
) -> list[str]:
    """One line per file of the pushed commits whose content (blob, chunk list or one of
    its chunks) a redaction recorded here erased: walked again with paths, only then."""
    if not again:
        return []
    store = repo.store
    named = walk(store.get_raw, store.type_of, pending.values(), known=known, paths=True)
    lines: dict[str, str] = {}
    for oid in sorted(again):
        path = named.paths.get(oid, f"object {oid.hex()}")
        lines.setdefault(path, gone[oid].again(path))
    return [lines[p] for p in sorted(lines)]


def _check_marked(repo: Repository, remote: Remote) -> None:
    """A directory that does not hold dvault's marker is not filled: it may be the empty
    mount point of an unmounted disk (S3 prefixes still get theirs on first push)."""
    folder = directory_of(remote.spec, repo.root)
    if remote.marker is None and folder is not None:
        raise RemoteError(
            f"remote {remote.describe()}: {folder} is not a dvault remote (no "
            f"{MARKER}; not mounted?); nothing was sent. If it is a new remote, run "
            f"`dvault remote init {remote.spec.name}`"
        )


def _is_commit(repo: Repository, oid: bytes) -> bool:
    return repo.store.type_of(oid) == ObjectType.COMMIT


def _send(
    repo: Repository,
    remote: Remote,
    todo: list[str],
    packs: dict[str, int],
    files: dict[str, Path],
    confirmed: Confirmed,
    report: PushReport,
    resumed: set[str],
) -> None:
    """Upload the local packs ``todo`` (4 at a time) and confirm each: a create-only
    upload that succeeded is this clone's copy (its size, and on S3 its SHA-256, checked
    by the store); a name already taken is confirmed only by reading that copy whole and
    verifying it (:func:`confirm_existing`), never by its name or size alone."""
    there = set(remote.catalog.packs) | set(remote.catalog.holes)

    def send(name: str, tick: Callable[[int], None]) -> int:
        if name in there:  # not sent again just to be told it exists
            with contextlib.suppress(RemoteNotFound):  # unless deleted since (prune)
                confirm_existing(repo, remote, name, packs[name], files[name])
                return 0
        try:
            remote.backend.upload(pack_key(name), files[name], tick)
        except AlreadyExists:
            # left by an interrupted push, or the same bytes pushed by another clone
            confirm_existing(repo, remote, name, packs[name], files[name])
            return 0
        return packs[name]

    def landed(name: str, future: Future[int]) -> None:
        sent = future.result()
        confirmed.packs.add(name)
        report.bytes_sent += sent
        report.packs_sent += 1 if sent else 0
        report.packs_skipped += 0 if sent else 1

    total = sum(packs[name] for name in todo)
    with repo.progress("push", total) as tick, ThreadPoolExecutor(UPLOAD_THREADS) as pool:
        failure: BaseException | None = None
        waiting: list[tuple[str, Future[int]]] = []
        try:
            with sigint_held():  # every upload queued is in ``waiting`` when SIGINT lands
                for name in todo:
                    waiting.append((name, pool.submit(send, name, tick)))
            while waiting:
                name, future = waiting[0]
                try:
                    landed(name, future)
                except Exception as exc:  # the others still finish and are confirmed
                    failure = failure or exc
                waiting.pop(0)
        except KeyboardInterrupt:
            interrupted(remote, waiting, confirmed, packs, landed, resumed)
        if failure is not None:
            raise failure
    # confirm, don't assume: every pack is listed there now with its size (a listing
    # only: the content was confirmed above)
    listed = remote.backend.list(PACK_PREFIX)
    absent = [name for name in packs if listed.get(pack_key(name)) != packs[name]]
    if absent:
        confirmed.packs.difference_update(absent)
        raise RemoteError(
            f"remote {remote.describe()}: {len(absent)} pack(s) still missing after upload "
            f"(e.g. {absent[0]}); refs not updated"
        )
    for name in todo:  # their footers are ours: no range reads for them next time
        remote.catalog.remember(name, files[name], packs[name])
