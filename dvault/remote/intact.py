"""What push may count on being intact on a remote, and the copies it confirms.

:class:`Intact` answers, per object, whether it sits on the remote in a copy this clone
confirmed (:mod:`dvault.remote.confirmed`); :func:`confirm_existing` confirms a pack of
a name already taken there; :func:`renamed_copies` gives a pack an open prune plan names
another name, so push never relies on a pack about to be deleted (docs/retention.md,
"Prune: two phases").
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from dvault.errors import CorruptObject, CorruptPack
from dvault.hashing import ObjectId, ObjectType
from dvault.remote.backend import RemoteError, RemoteNotFound, RemoteTampered
from dvault.remote.catalog import pack_key
from dvault.remote.confirmed import Confirmed
from dvault.remote.session import Remote
from dvault.repository import Repository
from dvault.store.pack import renamed_copy, verify_pack

RENAMED = "renamed"
"""``.dvault/remotes/<name>/renamed/``: the copies one push sends instead of planned
packs (removed when the push ends; a killed push's are replaced by the next)."""


class Intact:
    """Is an object on the remote in a copy this clone confirmed? In a remote pack it
    uploaded or verified whole, or in a local pack every object of which it read from
    that remote and verified (a fetch's) — then only while the remote lists it in a
    pack no open prune plan names (``planned``): a mirror does not say which remote
    pack its objects were read from."""

    def __init__(
        self,
        repo: Repository,
        remote: Remote,
        confirmed: Confirmed,
        planned: frozenset[str] = frozenset(),
    ) -> None:
        self.store = repo.store
        self.catalog = remote.catalog
        self.confirmed = confirmed
        self.planned = planned
        self._surviving = set(remote.catalog.packs) - planned if planned else set()

    def _mirrored(self, oid: bytes, kind: ObjectType | None) -> bool:
        if not self.confirmed.mirrors:
            return False
        located = self.store.index.lookup(oid)
        if located is None or (kind is not None and located[1].type != kind):
            return False
        if self.store.index.pack_name(located[0]) not in self.confirmed.mirrors:
            return False
        return not self.planned or self.catalog.held_by(oid, self._surviving, kind)

    def blob(self, oid: bytes) -> bool:
        """A confirmed blob (it references nothing, so it is complete where it is)."""
        held = self.catalog.held_by(oid, self.confirmed.packs, ObjectType.BLOB)
        return held or self._mirrored(oid, ObjectType.BLOB)

    def any(self, oid: bytes) -> bool:
        return self.catalog.held_by(oid, self.confirmed.packs) or self._mirrored(oid, None)


def confirm_existing(
    repo: Repository, remote: Remote, name: str, size: int, local: Path | None = None
) -> None:
    """A pack of this name is already on the remote, not uploaded by this push: count on
    it only when it holds exactly this clone's bytes (``local``, by default the store's
    pack of that name; the storage's digest of it: S3's SHA-256, a directory's file; see
    Backend.same_as), or else after downloading it (bounded by its size) and verifying
    it whole against its name and every object's id. A copy that fails was put there to
    take the name (or was damaged): refused, naming it; nothing is counted on it."""
    key = pack_key(name)
    there = remote.backend.size(key)
    if there is None:
        raise RemoteNotFound(f"remote {remote.describe()}: {key} is gone (pruned)")
    if there != size:
        raise RemoteTampered(
            f"remote {remote.describe()}: {key} exists with {there} bytes, this clone's pack "
            f"of that name has {size}: it was put there to take the name, or damaged; "
            "refs not updated"
        )
    if remote.backend.same_as(key, local or repo.store.packs_dir / f"{name}.pack"):
        return
    tmp = repo.store.tmp_dir / f"confirm-{os.getpid()}-{name[:16]}.tmp"
    tmp.unlink(missing_ok=True)
    try:
        remote.backend.download(key, tmp, limit=size)
        if tmp.stat().st_size != size:  # a cut transfer is not tampering
            raise RemoteError(
                f"remote {remote.describe()}: short download of {key} "
                f"({tmp.stat().st_size} of {size} bytes); the transfer was cut"
            )
        try:  # the name binds the footer (v1) or every byte (v2): same objects as ours
            verify_pack(tmp, name)
        except (CorruptPack, CorruptObject) as exc:
            raise RemoteTampered(
                f"remote {remote.describe()}: {key} exists with other content "
                f"than this clone's pack of that name ({exc}); it was put there to take "
                "the name, or damaged: refs not updated"
            ) from None
    finally:
        tmp.unlink(missing_ok=True)


def renamed_copies(
    repo: Repository,
    remote: Remote,
    names: list[str],
    planned: set[str],
    drop: dict[str, set[ObjectId]],
) -> dict[str, Path | None]:
    """For each local pack in ``names`` whose name an open prune plan names, or that holds
    objects to leave out (``drop``: pack -> the objects redact erased here): a copy under
    another name without them (pack.renamed_copy), in this remote's ``renamed/`` folder.
    A pack of a planned name is on the remote already and cannot be uploaded again
    (create-only); confirming that copy would rely on a pack a phase 2 may delete before
    this push's entry lands, so the copy is sent instead, before the append. Returns
    local name -> the copy's file (its stem is the copy's name), or None when nothing of
    the pack is left to send."""
    relied = [name for name in names if name in planned or name in drop]
    if not relied:
        return {}
    work = remote.dir / RENAMED
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    store = repo.store
    copies: dict[str, Path | None] = {}
    for name in relied:
        path = store.packs_dir / f"{name}.pack"
        copy = renamed_copy(path, name, work, store.tmp_dir, planned, drop.get(name, set()))
        copies[name] = None if copy is None else work / f"{copy}.pack"
    return copies
