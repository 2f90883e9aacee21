"""A clone writes its files from the bytes the fetch verifies, not from a second read of
the store.

Fetching a clone checks every downloaded pack whole (every object decompressed and
hashed, :func:`dvault.store.pack.check_pack`); the first checkout then used to read
every object back from those packs and decompress and hash it again. A :class:`Prefill`
is planned once the metadata is here (the target's tree and chunk lists; file data not
yet): it numbers the files of the checkout in the order
:func:`dvault.workspace.checkout.fill_empty` meets them and lists, for each blob, the
files (for a chunked file, the offsets) it fills. Then worker processes check the
downloaded packs in the fetch's place and, as each object passes its hash check, write
its bytes to scratch files under ``.dvault/tmp/fill-*/``, named by file number. The
checkout renames a finished scratch file into place instead of writing the file; what
the prefill did not finish (a file whose object came from a partly read or damaged
pack, a symlink, an empty folder) is written as before, from the store.

Processes, not the fetch's threads: 20k small files checked and written on threads cost
more in handing the GIL back and forth (eight handovers an object) than the second read
saved. Spawned, as every worker is (:mod:`dvault.workspace.processes`).

Nothing here writes into the work tree: scratch names are numbers, not paths from the
(untrusted) tree, so the checkout's path checks still run before any work-tree write.
The caps and the room on disk are checked before the first scratch byte (a hostile tree
listing one 1 MiB blob a million times is refused as a checkout would refuse it). Only
bytes that passed their hash check are written, and only where the tree's size for the
file agrees with them. The scratch files are made durable by the checkout's syncfs,
before they are renamed, as its own temporary files are (docs/reliability.md).
"""

from __future__ import annotations

import contextlib
import os
import queue
import shutil
import threading
import uuid
from array import array
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from pathlib import Path

from dvault.chunking import CHUNK_THRESHOLD, MIN_SIZE
from dvault.errors import CorruptObject, CorruptPack, DvaultError, StorageError
from dvault.fsutil import os_error
from dvault.hashing import ObjectId, ObjectType
from dvault.objects import chunk_refs
from dvault.repository import Repository
from dvault.store.pack import FOOTER_ENTRY, PackCheck, PackEntry, check_pack, read_footer_bytes
from dvault.treeobjects import MODE_EXEC
from dvault.trees import Change, diff_trees
from dvault.workspace.limits import check_room, limits
from dvault.workspace.processes import start
from dvault.workspace.scan import in_scopes
from dvault.workspace.status import WORKERS

SCRATCH_PREFIX = "fill-"
"""Scratch directories under ``.dvault/tmp`` are named this, then a unique token."""
SHARD = 4096
"""Scratch files per scratch subdirectory (a million files in one directory is slow)."""
KEEP_CHANGES = 100_000
"""The plan keeps the changes of a tree of at most this many leaves, so that the checkout
does not walk the tree again (checkout.STREAM_BATCH's bound: one batch)."""
PLAN_FILES = 1 << 20
"""Files planned at most (~140 bytes each); the checkout writes any further ones."""
PLAN_PIECES = 1 << 18
"""Chunks of chunked files planned at most (64 GiB of content at the average chunk
size); a chunked file past the budget is written by the checkout."""
MIN_FILES = 1000
MIN_BYTES = 64 << 20
"""A clone of fewer files and bytes than these is not prefilled: starting the worker
processes (~0.2 s each, spawned) costs more than the second read they save."""
MIN_PIECE = MIN_SIZE // 4
"""A chunked file of more than ``size // MIN_PIECE + 16`` chunks is not planned: no
writer cuts such small chunks (a hostile list repeating a 1-byte chunk would be)."""

_EXEC = 1
_Piece = tuple[int, int, int]  # (file number << 1 | exec, offset, length) of a chunk
_Target = int | _Piece  # a whole file: its number << 1 | exec
_Targets = _Target | list[_Target]
_CREATE = os.O_WRONLY | os.O_CREAT | getattr(os, "O_CLOEXEC", 0)


_CHUNKED_DIR = 255
"""The state byte of a finished chunked file (its pieces may come from any worker);
a whole file's byte is its worker's number plus one."""


def scratch_path(scratch: str, where: int, number: int) -> str:
    """Worker ``where - 1``'s own directories (no directory is shared by two creating
    processes), or one directory for chunked files, written piece by piece by any."""
    if where == _CHUNKED_DIR:
        return f"{scratch}/c/{number:x}"
    return f"{scratch}/w{where - 1}/{number // SHARD:x}/{number:x}"


class _Writer:
    """A worker's side: writes the verified objects of one pack into scratch files."""

    def __init__(
        self, scratch: str, worker: int, targets: dict[bytes, _Targets], sizes: dict[int, int]
    ) -> None:
        self.scratch = scratch
        self.where = worker + 1
        self.targets = targets
        self.sizes = sizes
        self.whole: list[int] = []  # numbers of files written whole
        self.pieces: list[int] = []  # numbers of chunked files, once per piece written
        self._shards: set[int] = set()

    def put(self, entry: PackEntry, body: bytes) -> None:
        targets = self.targets.pop(entry.id, None) if entry.type == ObjectType.BLOB else None
        if targets is None:
            return
        for target in targets if isinstance(targets, list) else [targets]:
            try:
                if isinstance(target, int):
                    self._whole(target, body)
                else:
                    self._piece(target, body)
            except OSError as exc:
                raise os_error(exc, "write", self.scratch) from None

    def _open(self, number: int, exec_bit: int, flags: int, where: int) -> int:
        path = scratch_path(self.scratch, where, number)
        shard = number // SHARD if where != _CHUNKED_DIR else -1
        if shard not in self._shards:
            os.makedirs(os.path.dirname(path), exist_ok=True)
            self._shards.add(shard)
        return os.open(path, flags, 0o777 if exec_bit else 0o666)

    def _whole(self, key: int, body: bytes) -> None:
        number = key >> 1
        if len(body) != self.sizes[number]:
            return  # not what the tree says: the checkout refuses it, from the store
        fd = self._open(number, key & _EXEC, _CREATE | os.O_EXCL, self.where)
        try:
            view = memoryview(body)
            while view:
                view = view[os.write(fd, view) :]
        finally:
            os.close(fd)
        self.whole.append(number)

    def _piece(self, piece: _Piece, body: bytes) -> None:
        key, offset, length = piece
        number = key >> 1
        if len(body) != length:
            return  # the file stays unfinished: the checkout writes it from the store
        fd = self._open(number, key & _EXEC, _CREATE, _CHUNKED_DIR)
        try:
            view = memoryview(body)
            while view:
                done = os.pwrite(fd, view, offset)
                view, offset = view[done:], offset + done
        finally:
            os.close(fd)
        self.pieces.append(number)


def _prefill_worker(scratch: str, worker: int, conn: Connection) -> None:
    """Entry point of a prefill worker: for each task (a downloaded pack, the targets of
    its blobs and the sizes of their files) check the pack whole, writing each verified
    blob into its scratch files, and report the check and what was written."""
    try:
        while (task := conn.recv()) is not None:
            path, name, targets, sizes = task
            writer = _Writer(scratch, worker, targets, sizes)
            try:
                found = check_pack(Path(path), name, writer.put)
            except (CorruptPack, CorruptObject) as exc:
                conn.send(("corrupt", str(exc), writer.whole, writer.pieces))
            except DvaultError as exc:
                conn.send(("error", str(exc), writer.whole, writer.pieces))
            except Exception as exc:  # report, never hang the parent waiting for a reply
                conn.send(("error", f"{type(exc).__name__}: {exc}", writer.whole, writer.pieces))
            else:
                conn.send(("checked", found, writer.whole, writer.pieces))
    finally:
        conn.close()


class Prefill:
    """The scratch files of one clone's checkout, filled by worker processes from the
    packs the fetch downloads (:meth:`check` stands in for ``check_pack``).

    Memory in the parent: one dict slot per distinct blob of the checkout (released as
    packs go by), 8 bytes of size and one byte of state per file, one count per chunked
    file; each task sends a worker only the targets of its pack's blobs.
    """

    def __init__(self, repo: Repository, tree: ObjectId, sparse: list[bytes] | None) -> None:
        self.scratch = repo.dir / "tmp" / f"{SCRATCH_PREFIX}{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self._lock = threading.Lock()
        self._blobs: dict[bytes, _Targets] = {}
        self._sizes = array("q")
        self._left: dict[int, int] = {}  # chunked file number -> pieces still to write
        self._done = bytearray()
        self.changes: list[Change] | None = []
        """Every change of the checkout, when there are at most KEEP_CHANGES."""
        self.planned_files = self.planned_bytes = 0
        self._running: dict[Connection, BaseProcess] = {}
        self._plan(repo, tree, sparse)
        self.worth = self.planned_files >= MIN_FILES or self.planned_bytes >= MIN_BYTES
        """Whether the workers run: when not, the checkout writes every file (:meth:`take`
        has nothing) and only the plan's changes are reused."""
        if not self.worth:
            return
        self.scratch.mkdir()
        self._idle: queue.Queue[Connection] = queue.Queue()
        payloads = [(str(self.scratch), worker) for worker in range(WORKERS)]
        self._running = start(_prefill_worker, payloads, duplex=True)
        self._worker = {conn: worker for worker, conn in enumerate(self._running)}
        for conn in self._running:
            self._idle.put(conn)

    def _plan(self, repo: Repository, tree: ObjectId, sparse: list[bytes] | None) -> None:
        """Number the changes of the checkout as fill_empty meets them (the first
        PLAN_FILES); check the caps and the room on disk for the files planned, before
        anything is written (the checkout checks them all again); list what each blob
        fills. Chunked files are expanded last, once the sizes passed the checks."""
        store = repo.store
        cap = limits(repo.config)
        total = files = 0
        chunked: list[tuple[int, int, bytes, int]] = []
        for number, change in enumerate(diff_trees(store, None, tree)):
            if number >= PLAN_FILES:
                self.changes = None
                break
            new = change.new
            self._sizes.append(-1)
            if self.changes is not None:
                self.changes.append(change)
                if len(self.changes) > KEEP_CHANGES:
                    self.changes = None
            if new is None or not in_scopes(change.path, sparse):
                continue
            files += 1
            if new.is_dir or new.is_link:
                continue
            total += new.size
            if total > cap.max_bytes or files > cap.max_files:
                check_room(repo.config, repo.root, total, files)  # refused: stop here
            self._sizes[number] = new.size
            key = number << 1 | (_EXEC if new.mode == MODE_EXEC else 0)
            # a file of at most CHUNK_THRESHOLD bytes is one blob (no index lookup); were a
            # hostile tree to name a chunk list there, no blob would fill it, and the
            # checkout refuses it
            if new.size > CHUNK_THRESHOLD and store.type_of(new.id) == ObjectType.CHUNKS:
                chunked.append((number, key, new.id, new.size))
            else:  # a blob, not here yet: it comes with the file data
                self._add(new.id, key)
        check_room(repo.config, repo.root, total, files)
        self.planned_files, self.planned_bytes = files, total
        budget = PLAN_PIECES
        for number, key, oid, size in chunked:
            budget -= self._plan_chunks(repo, number, key, oid, size, budget)
        self._done = bytearray(len(self._sizes))

    def _plan_chunks(
        self, repo: Repository, number: int, key: int, oid: bytes, size: int, budget: int
    ) -> int:
        """Plan one chunked file within ``budget`` chunks; returns the chunks planned
        (0: left to the checkout, which streams it and refuses what does not add up)."""
        most = min(budget, size // MIN_PIECE + 16)
        pieces: list[tuple[bytes, _Piece]] = []
        try:
            total, pairs = chunk_refs(repo.store.get_raw(oid)[1])
            if total != size:
                return 0
            offset = 0
            for chunk, length in pairs:
                if len(pieces) == most:
                    return 0
                pieces.append((chunk, (key, offset, length)))
                offset += length
        except CorruptObject:
            return 0
        for chunk_id, piece in pieces:
            self._add(chunk_id, piece)
        self._left[number] = len(pieces)
        return len(pieces)

    def _add(self, oid: bytes, target: _Target) -> None:
        have = self._blobs.get(oid)
        if have is None:
            self._blobs[oid] = target
        elif isinstance(have, list):
            have.append(target)
        else:
            self._blobs[oid] = [have, target]

    def check(self, path: Path, name: str) -> PackCheck:
        """:func:`check_pack` of a downloaded pack, run by a worker that also writes the
        files its blobs fill (each blob's targets go with the first pack that lists it)."""
        footer, _ = read_footer_bytes(path, name=name)
        targets: dict[bytes, _Targets] = {}
        sizes: dict[int, int] = {}
        with self._lock:
            # ids and types only: the worker's check_pack validates every entry, and
            # a footer listing what its pack lacks only leaves files to the checkout
            for oid, kind, *_ in FOOTER_ENTRY.iter_unpack(footer):
                found = self._blobs.pop(oid, None) if kind == ObjectType.BLOB else None
                if found is not None:
                    targets[oid] = found
                    for target in found if isinstance(found, list) else [found]:
                        number = (target if isinstance(target, int) else target[0]) >> 1
                        sizes[number] = self._sizes[number]
        del footer
        conn = self._idle.get()
        try:
            conn.send((str(path), name, targets, sizes))
            reply = conn.recv()
        except (EOFError, OSError):
            raise StorageError("a clone's prefill worker exited without reporting") from None
        finally:
            self._idle.put(conn)
        with self._lock:
            for number in reply[2]:
                self._done[number] = self._worker[conn] + 1
            for number in reply[3]:
                self._left[number] -= 1
                if self._left[number] == 0:
                    self._done[number] = _CHUNKED_DIR
        if reply[0] == "corrupt":
            raise CorruptPack(reply[1])
        if reply[0] == "error":
            raise StorageError(reply[1])
        result: PackCheck = reply[1]
        return result

    def take(self, number: int) -> bytes | None:
        """The scratch file holding change ``number``'s content, once whole (None:
        the checkout writes it)."""
        if number < len(self._done) and self._done[number]:
            where, self._done[number] = self._done[number], 0
            return os.fsencode(scratch_path(str(self.scratch), where, number))
        return None

    def stop(self) -> None:
        """Stop the workers (the fetch is over); their scratch files stay."""
        self._blobs.clear()
        for conn in self._running:
            with contextlib.suppress(OSError):
                conn.send(None)
        for conn, process in self._running.items():
            process.join(timeout=5)
            if process.is_alive():
                process.terminate()
                process.join()
            conn.close()
        self._running.clear()

    def close(self) -> None:
        """Stop the workers and remove what is left of the scratch files."""
        self.stop()
        shutil.rmtree(self.scratch, ignore_errors=True)


def remove_scratch(repo_dir: Path, keep: Path | None = None) -> None:
    """Delete the scratch directories of clones that were killed (but ``keep``)."""
    with contextlib.suppress(OSError):
        for path in (repo_dir / "tmp").glob(f"{SCRATCH_PREFIX}*"):
            if path != keep:
                shutil.rmtree(path, ignore_errors=True)
