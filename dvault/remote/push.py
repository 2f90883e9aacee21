"""Push: send a remote the packs it lacks, then append the ref updates to its log.

Order matters for the append-only guarantee: every object a ref needs is uploaded and
confirmed present before the ref-log entry that makes the ref visible is created. An
interrupted push leaves only complete, unreferenced packs behind; the next push finds
them already there and does not send them again.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from dvault.errors import CheckFailed, MissingObject, RefExists, UsageError
from dvault.hashing import ObjectId, ObjectType
from dvault.reachability import complete_commits, walk
from dvault.refs import HEADS, TAGS
from dvault.remote.backend import AlreadyExists, Backend, RemoteError, RemoteSpec
from dvault.remote.catalog import pack_key
from dvault.remote.reflog import IMMUTABLE, LogState, is_protected
from dvault.remote.session import Remote

if TYPE_CHECKING:
    from dvault.repo import Repo

UPLOAD_THREADS = 4


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


def _resolve_refs(repo: Repo, names: list[str] | None) -> dict[str, ObjectId]:
    """Full ref name -> id for what to push (default: the current branch)."""
    if not names:
        branch, head = repo.refs.head()
        if branch is None or head is None:
            raise UsageError("HEAD is not on a branch with commits; name what to push")
        return {HEADS + branch: head}
    refs: dict[str, ObjectId] = {}
    for name in names:
        for full in (name, HEADS + name, TAGS + name):
            if full.startswith(("refs/heads/", "refs/tags/")):
                oid = repo.refs.read(full)
                if oid is not None:
                    refs[full] = oid
                    break
        else:
            raise UsageError(f"no branch or tag named {name!r} to push")
    return refs


def _local_parents(repo: Repo, oid: bytes) -> list[bytes] | None:
    if repo.store.type_of(oid) != ObjectType.COMMIT:
        return None
    return list(repo.read_commit(oid).parents)


def is_ancestor(repo: Repo, old: bytes, new: bytes) -> bool:
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
    repo: Repo, wanted: dict[str, ObjectId], force: bool, remote: Remote
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
    repo: Repo,
    spec: RemoteSpec,
    names: list[str] | None = None,
    force: bool = False,
    sign: bool | None = None,
) -> PushReport:
    """Push local branches or tags by name (default: the current branch); ``sign``: sign
    the ref-log entry (None: as ``[push] sign`` says, see remote/logsign.py)."""
    return push_refs(repo, spec, _resolve_refs(repo, names), force, sign=sign)


def push_refs(
    repo: Repo,
    spec: RemoteSpec,
    wanted: dict[str, ObjectId],
    force: bool = False,
    backend: Backend | None = None,
    sign: bool | None = None,
) -> PushReport:
    """Push full ref names to ids (``refs/pins/<id>`` for data pinned by git commits).

    ``backend`` replaces the one ``spec`` names (tests inject faults through it)."""
    remote = Remote(repo, spec, backend)
    report = PushReport()
    view = remote.log.load()
    # entries others pushed since this clone last looked pass the graph check (parents
    # read from the remote when not here) before anything is built on them
    state = remote.log.accept(view)
    report.log_seq, report.log_head = state.head_seq, state.head
    pending = {ref: oid for ref, oid in wanted.items() if state.refs.get(ref) != oid.hex()}
    if not pending:
        report.up_to_date = True
        remote.record_tracking(view)
        return report
    check = _checker(repo, pending, force, remote)
    check(state)  # refuse early, before uploading anything

    from dvault.remote.logsign import push_signer

    signer = push_signer(repo, sign)  # a missing or unusable key fails before any upload
    remote.refresh_catalog()
    store = repo.store
    # Complete on the remote: commits its refs reach (a ref is appended only after every
    # object it needs was uploaded), and blobs it holds (they reference nothing). Not a
    # commit or tree merely present: an interrupted push can leave those without data.
    done = complete_commits(
        lambda oid: _local_parents(repo, oid),
        [bytes.fromhex(h) for h in state.refs.values()],
    )

    from dvault.signing import refuse_unsigned

    refuse_unsigned(repo, dict(pending), lambda oid: oid in done, remote.describe())

    def known(oid: bytes) -> bool:
        return oid in done or remote.catalog.type_of(oid) == ObjectType.BLOB

    # the set of ids only: a path per object would cost ~80 bytes each at a million files
    reach = walk(store.get_raw, store.type_of, pending.values(), known=known, paths=False)
    # a partial clone lacks some data locally; what the remote already holds is fine
    lacking = {o: p for o, p in reach.missing.items() if not remote.catalog.has(o)}
    if lacking:
        oid, path = next(iter(lacking.items()))
        raise MissingObject(
            f"cannot push: object {oid.hex()} (file {path}) is missing locally "
            f"({len(lacking)} missing; run dvault verify)"
        )
    # objects the remote lacks (what they reference was walked above), looked up in key
    # order: the index's pages are then read front to back, each faulted in once
    absent_ids = sorted(oid for oid in reach.objects if not remote.catalog.has(oid))
    del reach
    numbers: set[int] = set()
    with store.index.read_txn() as txn:
        for oid in absent_ids:
            located = store.index.lookup(oid, txn)
            if located is None:  # walked, so readable a moment ago: the index changed
                raise MissingObject(
                    f"cannot push: object {oid.hex()} vanished from the local store "
                    "(run dvault verify)"
                )
            numbers.add(located[0])
    del absent_ids  # every object the remote lacks is in one of these packs
    packs = {store.index.pack_name(n): 0 for n in sorted(numbers)}
    for name in packs:
        packs[name] = (store.packs_dir / f"{name}.pack").stat().st_size
    todo = [name for name in packs if name not in remote.catalog.packs]
    report.packs_skipped = len(packs) - len(todo)
    if todo:
        remote.ensure_marker()

    def send(name: str, tick: Callable[[int], None]) -> int:
        try:
            remote.backend.upload(pack_key(name), store.packs_dir / f"{name}.pack", tick)
        except AlreadyExists:
            # left by an interrupted push: complete (create-only), so nothing to resend
            if remote.backend.size(pack_key(name)) != packs[name]:
                raise RemoteError(
                    f"remote {remote.describe()}: {pack_key(name)} exists with a different size"
                ) from None
            return 0
        return packs[name]

    total = sum(packs[name] for name in todo)
    with repo.progress("push", total) as tick, ThreadPoolExecutor(UPLOAD_THREADS) as pool:
        for sent in pool.map(lambda n: send(n, tick), todo):
            report.bytes_sent += sent
            report.packs_sent += 1 if sent else 0
    report.packs_skipped += len(todo) - report.packs_sent

    # confirm, don't assume: every pack holding an object the remote lacked is listed there
    # with its size and a footer that verifies against its name (re-read from the remote)
    absent = remote.catalog.confirm(list(packs), packs)
    if absent:
        raise RemoteError(
            f"remote {remote.describe()}: {len(absent)} pack(s) still missing after upload "
            f"(e.g. {absent[0]}); refs not updated"
        )
    # a protected branch only fast-forwards (checked above): never mark its entry force
    updates = [
        (ref, oid.hex(), force and not is_protected(ref, state.protected))
        for ref, oid in pending.items()
    ]
    final, report.log_head = remote.log.append(updates, check, signer)
    report.log_seq, report.signed = final.state.head_seq, signer is not None
    report.updated = {ref: final.refs[ref] for ref in pending}
    remote.record_tracking(final)
    return report
