"""Read a remote's metadata objects in bulk, in parallel, before a walk needs them.

A walk over a long history reads one object at a time, each after the one naming it (a
commit's parent is known only once the commit is read): on S3 that is one round trip per
commit, tree and chunk list, one after another. The catalog already lists every object's
type, so ``forget`` and ``remote du`` ask for every metadata object of the kinds they walk
at once, through a pool of threads, and the walk then reads from memory. Objects this
clone holds are read locally (in the calling thread: the local store is not shared
between threads). A read that fails is left out: the walk reads it again and reports it
where it is needed (one bad object never stops the rest).
"""

from __future__ import annotations

from collections.abc import Collection
from concurrent.futures import ThreadPoolExecutor

from dvault.errors import DvaultError
from dvault.hashing import ObjectType
from dvault.remote.session import Remote

THREADS = 16
"""Reads in flight at once (each a ranged GET on S3; metadata objects are small)."""

METADATA = frozenset({ObjectType.COMMIT, ObjectType.TAG, ObjectType.TREE, ObjectType.CHUNKS})


class MetadataCache:
    """Every object of some kinds a remote's catalog lists, read ahead; :meth:`read` is a
    drop-in for ``remote.read_object`` (the local store first, then the remote)."""

    def __init__(self, remote: Remote) -> None:
        self.remote = remote
        self.objects: dict[bytes, tuple[ObjectType, bytes]] = {}

    def load(self, kinds: Collection[ObjectType]) -> int:
        """Read ahead every catalog object of ``kinds`` not held yet; how many were read
        from the remote. The catalog must be listed (``remote.refresh_catalog()``)."""
        catalog = self.remote.catalog
        store = self.remote.repo.store
        wanted = [
            oid for oid in catalog if oid not in self.objects and catalog.type_of(oid) in kinds
        ]
        remote_ids: list[bytes] = []
        for oid in wanted:
            try:
                self.objects[oid] = store.get_raw(oid)
            except DvaultError:
                remote_ids.append(oid)

        def one(oid: bytes) -> tuple[ObjectType, bytes] | None:
            try:
                return self.remote.read_object(oid)
            except DvaultError:  # read again (and reported) by the walk that needs it
                return None

        if remote_ids:
            with ThreadPoolExecutor(THREADS) as pool:
                for oid, found in zip(remote_ids, pool.map(one, remote_ids), strict=True):
                    if found is not None:
                        self.objects[oid] = found
        return len(remote_ids)

    def read(self, oid: bytes) -> tuple[ObjectType, bytes]:
        found = self.objects.get(oid)
        if found is None:
            try:
                found = self.remote.repo.store.get_raw(oid)
            except DvaultError:
                found = self.remote.read_object(oid)
            self.objects[oid] = found
        return found

    def attach(self) -> None:
        """Make the ref log's graph check (forged-move detection) read from here too."""
        self.remote.log.read_object = self.read


def read_ahead(remote: Remote, kinds: Collection[ObjectType]) -> MetadataCache:
    """The catalog listed, every object of ``kinds`` read ahead in parallel, and the ref
    log's graph check reading from the cache."""
    remote.refresh_catalog()
    cache = MetadataCache(remote)
    cache.load(kinds)
    cache.attach()
    return cache
