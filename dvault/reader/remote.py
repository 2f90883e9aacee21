"""Reading a remote in place: its verified ref log and pack footers, then objects by range
reads (directory, S3, encrypted). Nothing is written to a local store.

A :class:`RemoteSource` is what :mod:`dvault.revisions` resolves names in — it has
``refs`` (:class:`RemoteRefs`) and ``store`` (:class:`RemoteObjects`, whose ``index``
finds abbreviated ids in the remote's pack footers) — so ``main~2`` or ``3fa9c1`` means
the same on a remote as in a project.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import Any

from dvault.errors import DvaultError, MissingObject, ObjectErased, warn_stderr
from dvault.hashing import ObjectId, ObjectType
from dvault.objects import Object, decode_expected
from dvault.reader.source import Source
from dvault.refs import HEADS
from dvault.remote.backend import RemoteError
from dvault.remote.catalog import pack_key
from dvault.remote.logsign import refuse_untrusted
from dvault.remote.redaction import record_redactions
from dvault.remote.reflog import MARKER
from dvault.remote.session import Remote, verify_stored
from dvault.revisions import resolve
from dvault.store import erased
from dvault.store.erased import Redaction
from dvault.store.pack import PackEntry

GAP = 256 << 10
"""Objects of a pack closer than this are fetched in one request (the gap is read too)."""
METADATA_CACHE = 512
"""Trees, commits and chunk lists of a remote kept decoded, so listing a directory or
opening many files of one directory does not re-read the same tree over the network."""


class RemotePrefixes:
    """Abbreviated ids on a remote: the ids its pack footers list (``revisions`` looks a
    hex prefix up here, as it does in the local object index)."""

    def __init__(self, remote: Remote) -> None:
        self.remote = remote

    def find_prefix(self, hex_prefix: str, limit: int = 2) -> list[ObjectId]:
        found = []
        for oid in self.remote.catalog:
            if oid.hex().startswith(hex_prefix):
                found.append(ObjectId(oid))
                if len(found) >= limit:
                    break
        return found


class RemoteObjects:
    """A remote's objects through the calls of the object store (``get_raw``, ``get``,
    ``type_of``, ``index``), so ``trees`` and ``revisions`` read a remote unchanged.
    Every object is one range read, decompressed and verified against its id by
    :meth:`Remote.read_object`."""

    def __init__(self, remote: Remote) -> None:
        self.remote = remote
        self.index = RemotePrefixes(remote)
        self._cache: OrderedDict[bytes, tuple[ObjectType, bytes]] = OrderedDict()
        self._lock = threading.Lock()
        self.erased: dict[ObjectId, Redaction] = {}
        """Objects a trusted redaction erased (remote/redaction.py): never served, even
        while the remote still holds them (before prune)."""

    def get_raw(self, oid: bytes) -> tuple[ObjectType, bytes]:
        record = self.erased.get(ObjectId(bytes(oid)))
        if record is not None:
            raise ObjectErased(oid.hex(), record.detail())
        with self._lock:
            found = self._cache.get(oid)
            if found is not None:
                self._cache.move_to_end(oid)
                return found
        kind, raw = self.remote.read_object(oid)
        if kind != ObjectType.BLOB:  # metadata only: data is large and read once
            with self._lock:
                self._cache[oid] = (kind, raw)
                if len(self._cache) > METADATA_CACHE:
                    self._cache.popitem(last=False)
        return kind, raw

    def get(self, oid: bytes, expect: ObjectType | None = None) -> Object:
        return decode_expected(oid, *self.get_raw(oid), expect)

    def type_of(self, oid: bytes) -> ObjectType | None:
        if oid in self.erased:  # as if absent: reading it says who erased it (get_raw)
            return None
        return self.remote.catalog.type_of(oid)

    def has(self, oid: bytes) -> bool:
        return oid not in self.erased and self.remote.catalog.has(oid)

    def read_many(
        self, oids: list[ObjectId]
    ) -> dict[ObjectId, tuple[ObjectType, bytes] | DvaultError]:
        """Several objects with as few range reads as their places in the packs allow,
        each verified against its id: a damaged one maps to its error, so the others are
        still usable; missing ones are left out, erased ones map to ObjectErased."""
        result: dict[ObjectId, tuple[ObjectType, bytes] | DvaultError] = {}
        for oid in oids:
            record = self.erased.get(oid)
            if record is not None:
                result[oid] = ObjectErased(oid.hex(), record.detail())
        oids = [o for o in oids if o not in result]
        located = [(oid, self.remote.catalog.locate(oid)) for oid in oids]
        groups: list[list[tuple[ObjectId, str, PackEntry]]] = []
        for oid, found in sorted(
            ((o, f) for o, f in located if f is not None), key=lambda x: (x[1][0], x[1][1].offset)
        ):
            pack, entry = found
            if groups:
                _, last_pack, last = groups[-1][-1]
                if last_pack == pack and 0 <= entry.offset - last.offset - last.stored_len <= GAP:
                    groups[-1].append((oid, pack, entry))
                    continue
            groups.append([(oid, pack, entry)])
        for group in groups:
            pack = group[0][1]
            start = group[0][2].offset
            end = group[-1][2].offset + group[-1][2].stored_len
            blob = self.remote.backend.read_exact(pack_key(pack), start, end - start)
            for oid, _, entry in group:
                stored = blob[entry.offset - start : entry.offset - start + entry.stored_len]
                try:
                    raw = verify_stored(self.remote, oid, entry, stored, pack, None)
                except DvaultError as exc:
                    self.remote.catalog.mark_bad(pack, str(exc))
                    try:  # another pack may list it intact (anyone can create packs)
                        result[oid] = self.remote.read_object(oid)
                    except DvaultError:
                        result[oid] = exc
                else:
                    result[oid] = (entry.type, raw)
        return result


class RemoteRefs:
    """A remote's refs as :mod:`dvault.revisions` asks for them. A remote has no HEAD:
    it stands for the branch a clone would check out (main, else master, else the first)."""

    def __init__(self, refs: dict[str, str]) -> None:
        self.refs = refs

    def read(self, ref: str) -> ObjectId | None:
        value = self.refs.get(ref)
        return None if value is None else ObjectId(bytes.fromhex(value))

    def head(self) -> tuple[str | None, ObjectId | None]:
        branches = sorted(r for r in self.refs if r.startswith(HEADS))
        for ref in (HEADS + "main", HEADS + "master", *branches):
            if ref in self.refs:
                return ref[len(HEADS) :], self.read(ref)
        return None, None


class RemoteSource(Source):
    """A remote read in place: its verified ref log and pack footers, then objects by
    range reads. Nothing is written to the local store."""

    _objects: RemoteObjects

    def __init__(self, remote: Remote, release: Callable[[], None] | None = None) -> None:
        self.remote = remote
        self._pid = os.getpid()
        self._objects = RemoteObjects(remote)
        self._release = release
        self.refs = RemoteRefs({})
        try:
            self.refresh()
        except BaseException:
            self.close()
            raise

    def _reopen(self) -> None:
        # a new backend: boto3 clients and their connection pools are not fork-safe;
        # the catalog (what the parent listed and verified) carries over
        catalog = self.remote.catalog
        self.remote = Remote(self.remote.repo, self.remote.spec)
        catalog.backend = self.remote.backend
        self.remote.catalog = catalog
        self._objects = RemoteObjects(self.remote)

    @property
    def store(self) -> RemoteObjects:
        """The remote's objects (what :mod:`dvault.revisions` reads commits and tags from)."""
        self._after_fork()
        return self._objects

    def refresh(self) -> None:
        view = self.remote.log.load()
        if not view.refs and self.remote.backend.size(MARKER) is None:
            raise RemoteError(
                f"remote {self.remote.describe()} holds no dvault data "
                "(wrong location, not mounted, or nothing pushed yet)"
            )
        refuse_untrusted(self.remote.repo, view, self.remote.describe(), None)
        self.remote.refresh_catalog()
        state = self.remote.log.accept(view)  # graph-checked before the position moves
        record_redactions(self.remote.repo, view)
        self._objects.erased = erased.erased(self.remote.repo.dir)
        self.refs = RemoteRefs(dict(state.refs))

    def resolve(self, rev: str) -> ObjectId:
        return resolve(self, rev)

    def describe(self) -> str:
        return self.remote.describe()

    def close(self) -> None:
        release, self._release = self._release, None
        if release is not None:
            release()


class _NoObjects:
    """The local objects of no project: none (the ref log's graph check then reads the
    remote's); its temporary directory is only used when writing, which a reader never does."""

    def __init__(self, tmp_dir: Path) -> None:
        self.tmp_dir = tmp_dir

    def get_raw(self, oid: bytes) -> tuple[ObjectType, bytes]:
        raise MissingObject(f"object {oid.hex()} is not local (a remote read with no project)")


class NoProject:
    """What a remote asks of a project, when it is read by URL with none: a directory for
    its bookkeeping (its verified ref-log position and pack footers, in ``cache``), no
    local objects, no settings, and warnings on stderr."""

    def __init__(self, cache: Path) -> None:
        self.dir = cache
        self.root = Path.cwd()
        self.tmp_dir = cache
        self.store = _NoObjects(cache)
        self.config: dict[str, Any] = {}
        self.warn: Callable[[str], None] = warn_stderr
