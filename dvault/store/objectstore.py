"""The content-addressed object store: put and get objects by id, verified on every read.

Writes go through an :class:`ObjectWriter` batch: objects are appended to a pack, the
pack is sealed (fsync, rename) and only then indexed, which is the first half of the
durability order of docs/format.md (pack data → index → commit → ref).
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any, BinaryIO

from dvault.chunking import CHUNK_THRESHOLD
from dvault.content import Data, FileContent, hash_each
from dvault.errors import CorruptObject, CorruptPack, MissingObject, ObjectErased
from dvault.fsutil import os_error
from dvault.hashing import ObjectId, ObjectType, object_id
from dvault.objects import ChunkList, Object, chunk_refs, decode_expected, encode
from dvault.pipeline import ordered_map
from dvault.store import erased
from dvault.store.index import ObjectIndex
from dvault.store.pack import (
    MAX_OBJECT_SIZE,
    PACK_TARGET_SIZE,
    PackEntry,
    PackWriter,
    compress,
    read_footer,
    unpack_object,
)

CHUNK_WORKERS = min(8, os.cpu_count() or 1)
"""Threads that hash and compress one large file's chunks (see :meth:`ObjectWriter.put_file`)."""
REREAD_SPAN = 1 << 20
"""Bytes of a pack one task of :meth:`ObjectStore.reread` reads at once (its buffer, one
per thread): 1 MiB runs were as fast as 2 MiB ones on the 20k-file project, and 2 MiB less
at the peak (docs/performance.md, issue 23)."""
REREAD_WINDOW = 1 << 16
"""Objects :meth:`ObjectStore.reread` sorts into pack order at a time (~4 MiB of keys)."""
_M48 = (1 << 48) - 1
_M64 = (1 << 64) - 1


def _reread_key(
    pack_no: int, kind: int, compression: int, offset: int, stored: int, raw: int, position: int
) -> int:
    """One int that sorts an object of :meth:`ObjectStore.reread` into pack order and
    holds its whole pack entry as the index stores it (:meth:`ObjectIndex.locations`;
    the id is ``position`` in the caller's list), so the sort costs one int per object
    and no second index lookup. ``stored`` and ``raw`` must be within MAX_OBJECT_SIZE."""
    return (
        pack_no << 224
        | offset << 160
        | stored << 112
        | raw << 64
        | kind << 56
        | compression << 48
        | position
    )


def _reread_entry(key: int, oid: bytes) -> tuple[int, PackEntry]:
    """(pack number, entry) back from :func:`_reread_key`'s int."""
    entry = PackEntry(
        ObjectId(bytes(oid)),
        ObjectType(key >> 56 & 0xFF),
        key >> 48 & 0xFF,
        key >> 160 & _M64,
        key >> 112 & _M48,
        key >> 64 & _M48,
    )
    return key >> 224, entry


READ_AHEAD = 8
"""Chunks a large file's read runs ahead of its writing, with a pool (iter_file_content)."""

CHUNKS_AHEAD = 16
"""Chunks in flight per chunk worker: enough to keep every worker busy while the oldest
are written (a pack write blocks until the device has the bytes, see store/appendfile),
few enough to bound memory: at most 1 MiB raw plus 1 MiB compressed each, ~0.5 MiB
typical, so ~16 MiB per file on 2 cores. Measured on 2 cores, 4 GiB: 4 chunks 7.5-8.0 s,
8 chunks 6.4 s, 16 chunks 5.8-6.2 s, 64 chunks 5.7 s at twice the memory."""


class ObjectStore:
    """Packs under ``packs/`` located through the LMDB index under ``index/``."""

    def __init__(self, root: Path, readonly: bool = False) -> None:
        """``readonly`` opens the index without indexing new packs (worker processes)."""
        self.root = root
        self.packs_dir = root / "packs"
        self.tmp_dir = root / "tmp"
        self.index = ObjectIndex(root / "index", readonly=readonly)
        self._fds: dict[int, int] = {}
        self._fd_lock = threading.Lock()
        self.tree_cache: dict[bytes, Any] = {}  # see trees.read_tree
        self.unreadable_packs: dict[str, str] = {}
        self._erased = erased.ErasedIndex(root)
        if not readonly:
            self.sync_packs()

    # -- index maintenance ----------------------------------------------------------------

    def pack_files(self) -> dict[str, Path]:
        return {p.stem: p for p in self.packs_dir.glob("*.pack")}

    def sync_packs(self) -> list[str]:
        """Index any sealed pack the index does not know (after a crash or a fetch).

        A pack whose footer is damaged is not indexed but listed in ``unreadable_packs``,
        so the store still opens and ``verify``/``repair`` can deal with it.
        """
        import lmdb  # deferred: a C extension, loaded only when a store is opened

        known = set(self.index.pack_names.values())
        added = []
        for name, path in sorted(self.pack_files().items()):
            if name not in known:
                try:  # a pack the index never saw: its version 2 name is checked too
                    entries = read_footer(path, whole=True)
                except CorruptPack as exc:
                    self.unreadable_packs[name] = str(exc)
                    continue
                try:
                    self.index.add_pack(name, entries)
                except lmdb.Error:
                    break  # a full disk: nothing refers to an unindexed pack yet, so
                    # reading goes on; a later open indexes it
                added.append(name)
        return added

    def close(self) -> None:
        for fd in self._fds.values():
            os.close(fd)
        self._fds.clear()
        self.index.close()

    # -- reading --------------------------------------------------------------------------

    def has(self, oid: bytes) -> bool:
        return self.index.contains(oid)

    def type_of(self, oid: bytes) -> ObjectType | None:
        """An object's type from the index alone (no read), or None if absent."""
        return self.index.type_of(oid)

    def _fd(self, pack_no: int) -> int:
        fd = self._fds.get(pack_no)
        if fd is None:
            with self._fd_lock:
                fd = self._fds.get(pack_no)
                if fd is None:
                    path = self.packs_dir / f"{self.index.pack_name(pack_no)}.pack"
                    try:
                        fd = os.open(path, os.O_RDONLY)
                    except OSError as exc:
                        raise os_error(exc, "open pack", path) from None
                    self._fds[pack_no] = fd
        return fd

    def _missing(self, oid: bytes) -> MissingObject:
        """Absent: erased on purpose (``dvault redact``: store/erased.py) or missing."""
        record = self._erased.get(oid)
        if record is not None:
            return ObjectErased(oid.hex(), record.detail())
        return MissingObject(f"object {oid.hex()} is missing from the store")

    def locate(self, oid: bytes) -> tuple[str, PackEntry]:
        found = self.index.lookup(oid)
        if found is None:
            raise self._missing(oid)
        pack_no, entry = found
        return self.index.pack_name(pack_no), entry

    def get_raw(self, oid: bytes) -> tuple[ObjectType, bytes]:
        """Type and canonical bytes of ``oid``, re-hashed so corruption is never served."""
        found = self.index.lookup(oid)
        if found is None:
            raise self._missing(oid)
        pack_no, entry = found
        fd = self._fd(pack_no)
        try:
            stored = os.pread(fd, entry.stored_len, entry.offset)
        except OSError as exc:
            raise os_error(exc, "read pack", self.index.pack_name(pack_no)) from None
        where = f"object {oid.hex()} in pack {self.index.pack_name(pack_no)[:16]}"
        return entry.type, unpack_object(oid, entry, stored, where)

    def reread(
        self, oids: Sequence[bytes], tick: Callable[[int], None] | None = None
    ) -> tuple[int, dict[ObjectId, str]]:
        """Read and re-hash every object of ``oids`` (what ``verify --read-data`` does):
        (bytes checked, id -> error for each damaged or missing one).

        In pack order: each task reads one run of a pack (up to :data:`REREAD_SPAN`
        bytes) with a single ``preadv`` into its thread's reused buffer, then decompresses
        and hashes the objects in it, on :data:`CHUNK_WORKERS` threads (the reads,
        zstandard and blake3 release the GIL). Memory: one int per object of a window
        of :data:`REREAD_WINDOW` (sorted by pack and entry, :func:`_reread_key`), one
        buffer per thread and a few runs in flight, however many objects there are.
        ``tick(n)`` reports progress from the calling thread."""
        errors: dict[ObjectId, str] = {}

        def sorted_keys(first: int) -> list[int]:
            """The sort keys of ``oids[first : first + REREAD_WINDOW]``, in pack order."""
            keys: list[int] = []
            window = oids[first : first + REREAD_WINDOW]
            for i, found in enumerate(self.index.locations(window), first):
                if found is None:
                    errors[ObjectId(bytes(oids[i]))] = str(self._missing(oids[i]))
                    continue
                claim = max(found[4], found[5])  # stored, raw: never allocated if too large
                if claim > MAX_OBJECT_SIZE:
                    errors[ObjectId(bytes(oids[i]))] = (
                        f"object {oids[i].hex()}: its index entry claims {claim} bytes, "
                        f"over the {MAX_OBJECT_SIZE}-byte limit"
                    )
                    continue
                keys.append(_reread_key(*found, i))
            # the index pages just read stay counted in this process's memory until
            # released (fsutil.MappedFile): without this, they and the buffers below
            # would make the peak of verify ~6 MiB higher at this size
            self.index.release_pages()
            keys.sort()
            return keys

        def runs() -> Iterator[tuple[int, int, list[tuple[bytes, PackEntry]]]]:
            """(pack, start, objects) of up to REREAD_SPAN bytes of one pack each, a
            window of objects at a time (memory bounded however many there are)."""
            for first in range(0, len(oids), REREAD_WINDOW):
                run: list[tuple[bytes, PackEntry]] = []
                run_pack = start = 0
                for key in sorted_keys(first):
                    oid = oids[key & _M48]
                    pack_no, entry = _reread_entry(key, oid)
                    end = entry.offset + entry.stored_len
                    if run and (pack_no != run_pack or end - start > REREAD_SPAN):
                        yield run_pack, start, run
                        run = []
                    if not run:
                        run_pack, start = pack_no, entry.offset
                    run.append((oid, entry))
                if run:
                    yield run_pack, start, run

        buffers = threading.local()

        def check(
            pack_no: int, start: int, run: list[tuple[bytes, PackEntry]]
        ) -> tuple[int, dict[ObjectId, str]]:
            span = max(entry.offset + entry.stored_len for _, entry in run) - start
            buf: bytearray | None = getattr(buffers, "buf", None)
            if buf is None or len(buf) < span:
                buf = buffers.buf = bytearray(max(span, REREAD_SPAN))
            name = self.index.pack_name(pack_no)
            try:
                got = os.preadv(self._fd(pack_no), [memoryview(buf)[:span]], start)
            except OSError as exc:
                raise os_error(exc, "read pack", name) from None
            valid = memoryview(buf)[:got]  # past the end of a truncated pack: "truncated"
            done, bad = 0, dict[ObjectId, str]()
            for oid, entry in run:
                at = entry.offset - start
                where = f"object {oid.hex()} in pack {name[:16]}"
                try:  # a view of the buffer, decompressed or hashed in place, never kept
                    stored = valid[at : at + entry.stored_len]
                    done += len(unpack_object(oid, entry, stored, where))  # type: ignore[arg-type]
                except CorruptObject as exc:
                    bad[ObjectId(bytes(oid))] = str(exc)
            return done, bad

        total = 0

        def collect(future: Future[tuple[int, dict[ObjectId, str]]]) -> None:
            nonlocal total
            done, bad = future.result()
            total += done
            errors.update(bad)
            if tick is not None:
                tick(done)

        with ThreadPoolExecutor(CHUNK_WORKERS, thread_name_prefix="dvault-reread") as pool:
            pending: deque[Future[tuple[int, dict[ObjectId, str]]]] = deque()
            for task in runs():  # a few runs in flight, not every one at once
                pending.append(pool.submit(check, *task))
                if len(pending) > 2 * CHUNK_WORKERS:
                    collect(pending.popleft())
            while pending:
                collect(pending.popleft())
        return total, errors

    def get(self, oid: bytes, expect: ObjectType | None = None) -> Object:
        return decode_expected(oid, *self.get_raw(oid), expect)

    def iter_file_content(
        self, oid: bytes, size: int | None = None, pool: Executor | None = None
    ) -> Iterator[bytes]:
        """The bytes of a file (a blob or a chunk list), one verified piece at a time.

        With ``size`` (what a tree entry says), content of any other size is refused
        before its first byte, so a checkout never writes more than the tree announced
        (and checked against its limits). A chunk list is streamed, never decoded whole.
        With ``pool``, a chunk list's chunks are read, decompressed and hashed on its
        threads, a few ahead of the caller (zstd and blake3 release the GIL), so one
        large file is read on every core while the caller writes it."""
        kind, raw = self.get_raw(oid)
        if kind == ObjectType.BLOB:
            if size is not None and len(raw) != size:
                raise CorruptObject(f"blob {oid.hex()} is {len(raw)} bytes, its tree says {size}")
            yield raw
        elif kind == ObjectType.CHUNKS:
            total, pairs = chunk_refs(raw)
            if size is not None and total != size:
                raise CorruptObject(
                    f"chunk list {oid.hex()} is {total} bytes, its tree says {size}"
                )
            read = self.get_raw

            def fetch(pair: tuple[ObjectId, int]) -> tuple[ObjectId, int, ObjectType, bytes]:
                return (*pair, *read(pair[0]))

            if pool is None:
                fetched: Iterator[tuple[ObjectId, int, ObjectType, bytes]] = map(fetch, pairs)
            else:  # the window bounds memory: READ_AHEAD chunks of at most 1 MiB
                fetched = ordered_map(pool, fetch, pairs, READ_AHEAD)
            for chunk_id, length, ckind, data in fetched:
                if ckind != ObjectType.BLOB or len(data) != length:
                    raise CorruptObject(f"chunk {chunk_id.hex()} of {oid.hex()} does not match")
                yield data
        else:
            raise CorruptObject(f"object {oid.hex()} is a {kind.name.lower()}, not file content")

    def read_file_content(self, oid: bytes) -> bytes:
        return b"".join(self.iter_file_content(oid))

    def writer(self, index_packs: bool = True, prefer: bool = False) -> ObjectWriter:
        return ObjectWriter(self, index_packs, prefer)


class ObjectWriter:
    """A batch of new objects; :meth:`flush` seals and indexes them durably.

    Thread-safe: worker threads hash and compress, then call :meth:`put_prepared`. Each
    thread appends to a pack of its own, so file writes and the pack hash run in
    parallel; only the "is it already stored?" bookkeeping is shared.
    Use as a context manager; leaving with an exception drops the unsealed pack, so a
    failed command leaves no half-indexed state behind.
    """

    def __init__(self, store: ObjectStore, index_packs: bool = True, prefer: bool = False) -> None:
        """With ``index_packs`` False, sealed packs are listed in ``sealed`` instead of
        indexed: a worker process leaves indexing to the process holding the lock."""
        self.store = store
        self.index_packs = index_packs
        self.prefer = prefer  # new copies replace indexed ones (repair, gc)
        self.sealed: list[tuple[str, list[PackEntry]]] = []
        self.names: list[str] = []  # every pack this writer sealed
        self._packs: dict[int, PackWriter] = {}  # thread id -> that thread's open pack
        self._pending: set[bytes] = set()
        self._lock = threading.Lock()
        self._sealer: ThreadPoolExecutor | None = None
        self._sealing: list[Future[None]] = []
        self._chunk_pool: ThreadPoolExecutor | None = None
        self.bytes_written = 0
        self.objects_written = 0

    def __enter__(self) -> ObjectWriter:
        return self

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        if exc_type is None:
            self.flush()
        else:
            self.abort()

    def has(self, oid: bytes) -> bool:
        return oid in self._pending or self.store.has(oid)

    def put_prepared(
        self, oid: ObjectId, kind: ObjectType, compression: int, stored: Data, raw_len: int
    ) -> bool:
        """Append an already hashed and compressed object (callers check :meth:`has` first).

        Returns False when another thread is already storing the same object.
        """
        thread = threading.get_ident()
        with self._lock:
            # Callers checked the store (has) before compressing; only a concurrent put
            # of the same content by another thread can have happened since.
            if oid in self._pending:
                return False
            self._pending.add(oid)
            self.bytes_written += len(stored)
            self.objects_written += 1
            pack = self._packs.get(thread)
        if pack is None:
            pack = PackWriter(self.store.packs_dir, self.store.tmp_dir)
            with self._lock:
                self._packs[thread] = pack
        pack.add(oid, kind, compression, stored, raw_len)  # only this thread writes it
        if pack.size >= PACK_TARGET_SIZE:
            with self._lock:
                self._seal(thread)
        return True

    def put_raw(self, kind: ObjectType, raw: bytes) -> ObjectId:
        oid = object_id(kind, raw)
        if not self.has(oid):
            compression, stored = compress(raw)
            self.put_prepared(oid, kind, compression, stored, len(raw))
        return oid

    def put(self, obj: Object) -> ObjectId:
        kind, body, oid = encode(obj)
        if not self.has(oid):
            compression, stored = compress(body)
            self.put_prepared(oid, kind, compression, stored, len(body))
        return oid

    def put_file(
        self, stream: BinaryIO, size_hint: int, previous: ChunkList | None = None
    ) -> tuple[ObjectId, int]:
        """Store a file's content; returns its id and the number of bytes actually read.

        ``size_hint`` (from stat) only picks blob or chunks; a file that changes while
        being read is recorded as what was actually stored. With the file's ``previous``
        chunk list, unchanged chunks are not cut again (see :mod:`dvault.rechunk`).

        A chunked file is cut on this thread while a small pool hashes its chunks and
        compresses those not stored yet (blake3 and zstd release the GIL), so one large
        file uses every core. Chunks are still appended here, in file order, followed by
        the chunk list: the pack layout is the same as with one thread.
        """
        content = FileContent(stream, size_hint, previous)
        ahead: dict[ObjectId, tuple[int, Data]] = {}  # compressed by the pool, not yet put

        def prepare(data: Data) -> tuple[Data, ObjectId]:
            """On a pool thread: hash a chunk and compress it unless it is stored."""
            oid = object_id(ObjectType.BLOB, data)
            if not self.has(oid):
                ahead[oid] = compress(data)
            return data, oid

        def hash_ahead(chunks: Iterator[Data]) -> Iterator[tuple[Data, ObjectId]]:
            window = CHUNK_WORKERS * CHUNKS_AHEAD
            return ordered_map(self._chunk_workers(), prepare, chunks, window)

        parallel = size_hint > CHUNK_THRESHOLD and CHUNK_WORKERS > 1
        for kind, body, oid in content.objects(hash_ahead if parallel else hash_each):
            packed = ahead.pop(oid, None)
            if not self.has(oid):
                compression, stored = packed or compress(body)
                self.put_prepared(oid, kind, compression, stored, len(body))
        return content.id, content.size

    def _chunk_workers(self) -> ThreadPoolExecutor:
        with self._lock:
            if self._chunk_pool is None:
                self._chunk_pool = ThreadPoolExecutor(CHUNK_WORKERS, "dvault-chunk")
            return self._chunk_pool

    def _seal(self, thread: int) -> None:
        """Hand a thread's pack to the sealer thread (called with ``_lock`` held).

        Sealing fsyncs tens of MiB; doing it on a separate thread lets hashing and
        compression continue meanwhile. Its objects stay in ``_pending`` (so they are not
        stored twice) until they are indexed.
        """
        pack = self._packs.pop(thread)
        if not pack.entries:
            pack.abort()
            return
        if self._sealer is None:
            self._sealer = ThreadPoolExecutor(1, thread_name_prefix="dvault-seal")
        self._sealing.append(self._sealer.submit(self._seal_and_index, pack))

    def _seal_and_index(self, pack: PackWriter) -> None:
        try:
            name = pack.seal()
        except BaseException:
            pack.abort()
            raise
        with self._lock:
            self.names.append(name)
        if not self.index_packs:
            with self._lock:
                self.sealed.append((name, pack.entries))
            return  # objects stay pending: the index cannot confirm them in this process
        self.store.index.add_pack(name, pack.entries, prefer=self.prefer)
        with self._lock:
            self._pending.difference_update(e.id for e in pack.entries)

    def _wait_for_seals(self) -> None:
        if self._chunk_pool is not None:  # idle: every put_file waits for its chunks
            self._chunk_pool.shutdown()
            self._chunk_pool = None
        futures, self._sealing = self._sealing, []
        errors = [f.exception() for f in futures]
        if self._sealer is not None:
            self._sealer.shutdown()
            self._sealer = None
        for error in errors:
            if error is not None:
                raise error

    def flush(self) -> None:
        """Seal the open packs (fsync) and index them; after this every put is durable.

        Call when no other thread is putting objects any more.
        """
        with self._lock:
            for thread in list(self._packs):
                self._seal(thread)
        self._wait_for_seals()

    def take_sealed(self) -> list[tuple[str, list[PackEntry]]]:
        """The packs sealed (and not indexed) so far, forgotten here once taken: a
        worker process hands them to the parent, which indexes them. Their objects are
        no longer pending, so a later duplicate that races the parent's indexing may be
        stored again (harmless; the index keeps the first copy) but memory stays flat."""
        with self._lock:
            sealed, self.sealed = self.sealed, []
            for _, entries in sealed:
                self._pending.difference_update(e.id for e in entries)
        return sealed

    def abort(self) -> None:
        """Drop the unsealed pack. Packs already sealed stay: they are complete and
        unreferenced, which is harmless (gc removes unreachable objects)."""
        with self._lock:
            for pack in self._packs.values():
                pack.abort()
            self._packs.clear()
            self._pending.clear()
        with contextlib.suppress(Exception):
            self._wait_for_seals()


def remove_stale_temp_files(tmp_dir: Path) -> None:
    """Delete packs that were never sealed (a killed writer); nothing refers to them."""
    for path in tmp_dir.glob("pack-*.tmp"):
        with contextlib.suppress(OSError):
            path.unlink()
