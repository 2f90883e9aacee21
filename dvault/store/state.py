"""Workspace state in LMDB: tracked roots, the staging index and the hash cache.

``stage`` maps every tracked path to the content that the next commit will record, plus
the stat data (size, mtime_ns, ctime_ns, inode) of the workspace file when it was last
known to hold exactly that content. ``status`` trusts an entry whose stat data still
matches, so unchanged files are never re-read. An entry recorded less than
:data:`RACY_NS` after the file's mtime is "racy" (the file could change again within the
timestamp granularity) and is re-hashed once more, as git does.

``hashcache`` remembers the id of workspace files that differ from the stage, so a large
modified checkpoint is hashed once, not on every ``status``.

It lives in ``store/`` beside the object index, not in ``workspace/``, because the
repository handle owns and opens it (``Repository.state``), as git's index belongs to the
repository; the workspace layer above reads and writes it through the handle.
"""

from __future__ import annotations

import contextlib
import os
import struct
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, NamedTuple

from dvault.errors import CorruptObject, StorageError
from dvault.fsutil import MappedFile
from dvault.hashing import ObjectId
from dvault.names import check_root

RACY_NS = 100_000_000
MAX_DBS = 5  # stage, hashcache, roots, meta, dirsig
SIGNATURE_DROP_ALL = 10_000
"""A stage write touching more paths than this forgets every directory signature at once."""

STAGE_LAYOUT = struct.Struct(">IQ32sqqQq")  # mode, size, id, mtime_ns, ctime_ns, inode, cached_at
_ENTRY = STAGE_LAYOUT


class FileStat(NamedTuple):
    """The stat fields that tell whether a file may have changed.

    Named tuples, not dataclasses: ``status`` builds one per file, and tuple creation is
    several times cheaper than a frozen dataclass's ``__init__``.
    """

    mode: int
    size: int
    mtime_ns: int
    ctime_ns: int
    ino: int

    @classmethod
    def of(cls, st: os.stat_result, mode: int) -> FileStat:
        return cls(mode, st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino)


class StageEntry(NamedTuple):
    """Content recorded for one path, and the stat data of the file that held it.

    The field order is the on-disk order of the ``stage`` table (docs/format.md).
    """

    mode: int
    size: int
    id: ObjectId
    mtime_ns: int = 0
    ctime_ns: int = 0
    ino: int = 0
    cached_at: int = 0

    def matches(self, st: FileStat) -> bool:
        """True when ``st`` proves the file still holds this content."""
        return (
            self.mtime_ns == st.mtime_ns
            and self.size == st.size
            and self.ino == st.ino
            and self.ctime_ns == st.ctime_ns
            and self.mode == st.mode
            and st.mtime_ns < self.cached_at - RACY_NS
        )

    def same_content(self, other: StageEntry | None) -> bool:
        return other is not None and self.id == other.id and self.mode == other.mode

    def with_stat(self, st: FileStat | None, now: int) -> StageEntry:
        if st is None:
            return StageEntry(self.mode, self.size, self.id)
        return StageEntry(self.mode, self.size, self.id, st.mtime_ns, st.ctime_ns, st.ino, now)

    def pack(self) -> bytes:
        return _ENTRY.pack(*self)

    @classmethod
    def unpack(cls, raw: bytes) -> StageEntry:
        return cls._make(_ENTRY.unpack(raw))


class WorkspaceState:
    """The LMDB environment under ``.dvault/state``."""

    def __init__(self, path: Path) -> None:
        import lmdb  # deferred: a C extension, loaded only when the state is opened

        path.mkdir(exist_ok=True)
        self.path = path
        try:
            self.env = lmdb.open(str(path), map_size=1 << 40, max_dbs=MAX_DBS, readahead=False)
        except lmdb.Error as exc:
            raise StorageError(f"cannot open workspace state {path}: {exc}") from None
        self._stage = self.env.open_db(b"stage")
        self._hashes = self.env.open_db(b"hashcache")
        self._roots = self.env.open_db(b"roots")
        self._meta = self.env.open_db(b"meta")
        self._signatures = self.env.open_db(b"dirsig")
        self._mapped = MappedFile((path / "data.mdb").resolve())

    def close(self) -> None:
        self.env.close()

    @property
    def stage_db(self) -> Any:
        """The ``stage`` table's handle, for scans that read it in key ranges."""
        return self._stage

    @property
    def signature_db(self) -> Any:
        """The ``dirsig`` table's handle: directory signatures (workspace/scan.py)."""
        return self._signatures

    # -- stage ----------------------------------------------------------------------------

    def stage(self) -> dict[bytes, StageEntry]:
        """The whole staging index (one sequential LMDB scan)."""
        unpack, new = _ENTRY.unpack, tuple.__new__
        with self.env.begin(db=self._stage) as txn:
            # tuple.__new__ skips the named tuple's Python-level constructor: 2 s at 1M paths
            return {k: new(StageEntry, unpack(v)) for k, v in txn.cursor()}

    def iter_stage(self) -> Iterator[tuple[bytes, StageEntry]]:
        """Every staged path and entry in byte order, read from a cursor: the whole stage
        without holding it (and without keeping the pages read counted in memory)."""
        unpack, new = _ENTRY.unpack, tuple.__new__
        with self.env.begin(db=self._stage) as txn:
            for n, (key, value) in enumerate(txn.cursor(), 1):
                yield key, new(StageEntry, unpack(value))
                if n % 20_000 == 0:  # sequential: ~3 MiB of pages
                    self.release_pages()

    def release_pages(self) -> None:
        """See fsutil.MappedFile: reading or writing a million entries would
        otherwise leave the whole table counted in this process's memory."""
        self._mapped.release()

    def stage_raw(self) -> dict[bytes, bytes]:
        """The staging index as packed values (see :data:`STAGE_LAYOUT`), for hot loops."""
        with self.env.begin(db=self._stage) as txn:
            return dict(txn.cursor())

    def staged_under(self, scope: bytes) -> bool:
        """True when the stage holds ``scope`` or a path inside it (one key-range probe)."""
        with self.env.begin(db=self._stage) as txn:
            cursor = txn.cursor()
            if not scope:
                return cursor.first()
            if cursor.get(scope) is not None:
                return True
            prefix = scope + b"/"
            return cursor.set_range(prefix) and cursor.key().startswith(prefix)

    def stage_get_many(self, paths: Iterable[bytes]) -> dict[bytes, StageEntry]:
        """The staged entries of ``paths`` that are staged (one transaction): what a
        change touches, without loading the whole stage."""
        unpack, new = _ENTRY.unpack, tuple.__new__
        found = {}
        with self.env.begin(db=self._stage) as txn:
            for path in paths:
                self._mapped.touched()
                raw = txn.get(path)
                if raw is not None:
                    found[path] = new(StageEntry, unpack(raw))
        return found

    def stage_get(self, path: bytes) -> StageEntry | None:
        with self.env.begin(db=self._stage) as txn:
            raw = txn.get(path)
        return None if raw is None else StageEntry.unpack(raw)

    def update_stage(
        self,
        put: Iterable[tuple[bytes, StageEntry]] = (),
        delete: Iterable[bytes] = (),
        tree: ObjectId | None = None,
        replace_all: bool = False,
        forget_tree: bool = False,
    ) -> None:
        """Apply stage changes and record the stage's tree id, in one transaction.

        ``forget_tree`` drops the recorded tree id: an add that writes the stage in
        batches does so with its first batch, so a kill before its last leaves a stage
        that says its tree is unknown (the next add rebuilds it; commit refuses), never
        one that names the tree of an older stage."""
        with self.env.begin(write=True) as txn:
            touched: set[bytes] = set()
            if forget_tree:
                txn.delete(b"stage-tree", db=self._meta)
            if replace_all:
                txn.drop(self._stage, delete=False)
            for path in delete:
                txn.delete(path, db=self._stage)
                txn.delete(path, db=self._hashes)
                touched.add(path)
            for path, entry in put:
                self._mapped.touched()
                txn.put(path, entry.pack(), db=self._stage)
                txn.delete(path, db=self._hashes)
                touched.add(path)
            self._stage_changed(txn, None if replace_all else touched)
            if tree is not None:
                txn.put(b"stage-tree", tree, db=self._meta)

    def refresh_stat(self, fresh: Iterable[tuple[bytes, StageEntry]]) -> None:
        """Record new stat data for entries whose content was re-verified.

        Compare-and-set: an entry that another process re-staged meanwhile is left alone.
        """
        with self.env.begin(write=True, db=self._stage) as txn:
            touched = set()
            for path, entry in fresh:
                raw = txn.get(path)
                if raw is not None and StageEntry.unpack(raw).same_content(entry):
                    txn.put(path, entry.pack())
                    touched.add(path)
            self._stage_changed(txn, touched)

    # -- directory signatures -------------------------------------------------------------

    def _stage_changed(self, txn: Any, paths: set[bytes] | None) -> None:
        """Forget the signature of every directory at or above a changed stage path (all of
        them when ``paths`` is None) and bump the stage generation, in the stage write's own
        transaction: a signature vouches for a directory only while its stage is unchanged."""
        if paths is None or len(paths) > SIGNATURE_DROP_ALL:
            txn.drop(self._signatures, delete=False)
        else:
            dirs: set[bytes] = set()
            for path in paths:
                dirs.add(path)  # a path that was, or becomes, a directory
                while path:  # an ancestor already in ``dirs`` came with all of its own
                    path = path.rpartition(b"/")[0]
                    if path in dirs:
                        break
                    dirs.add(path)
            for directory in dirs:
                txn.delete(directory + b"/", db=self._signatures)
        generation = self.stage_generation(txn) + 1
        txn.put(b"stage-generation", generation.to_bytes(8, "big"), db=self._meta)

    def stage_generation(self, txn: Any) -> int:
        """A counter every stage write bumps (read in the caller's transaction)."""
        raw = txn.get(b"stage-generation", db=self._meta)
        return 0 if raw is None else int.from_bytes(raw, "big")

    def record_signatures(self, clean: dict[bytes, bytes], generation: int) -> None:
        """Remember the signatures of directories a scan found clean, unless the stage
        changed since the scan read it. A cache: a write that fails (a full disk, a
        read-only state) is skipped."""
        import lmdb  # deferred: a C extension, loaded only when the state is opened

        if not clean:
            return
        with contextlib.suppress(lmdb.Error), self.env.begin(write=True) as txn:
            if self.stage_generation(txn) != generation:
                return
            for directory, signature in clean.items():
                txn.put(directory + b"/", signature, db=self._signatures)

    def head_tree(self, head: bytes) -> ObjectId | None:
        """HEAD's tree id if ``head`` is the commit it was recorded for (saves opening the
        object store in ``status``)."""
        with self.env.begin(db=self._meta) as txn:
            raw = txn.get(b"head")
        if raw is None or raw[:32] != head:
            return None
        return ObjectId(bytes(raw[32:]))

    def set_head_tree(self, head: bytes, tree: bytes) -> None:
        with self.env.begin(write=True, db=self._meta) as txn:
            txn.put(b"head", head + tree)

    def sparse(self) -> list[bytes] | None:
        """The path scopes a partial clone materialises (None: the whole snapshot)."""
        with self.env.begin(db=self._meta) as txn:
            raw = txn.get(b"sparse")
        return None if raw is None else [p for p in bytes(raw).split(b"\0") if p]

    def set_sparse(self, scopes: list[str] | None) -> None:
        with self.env.begin(write=True, db=self._meta) as txn:
            if scopes is None:
                txn.delete(b"sparse")
            else:
                txn.put(b"sparse", b"\0".join(s.encode() for s in scopes) + b"\0")

    def verify_cursor(self) -> int:
        with self.env.begin(db=self._meta) as txn:
            raw = txn.get(b"verify-cursor")
        return int(raw) if raw is not None else 0

    def set_verify_cursor(self, value: int) -> None:
        with self.env.begin(write=True, db=self._meta) as txn:
            txn.put(b"verify-cursor", str(value).encode())

    def stage_tree(self) -> ObjectId | None:
        with self.env.begin(db=self._meta) as txn:
            raw = txn.get(b"stage-tree")
        return None if raw is None else ObjectId(bytes(raw))

    # -- hash cache for files that differ from the stage ----------------------------------

    def cached_hash(self, path: bytes, st: FileStat) -> ObjectId | None:
        with self.env.begin(db=self._hashes) as txn:
            raw = txn.get(path)
        if raw is None:
            return None
        entry = StageEntry.unpack(raw)
        return entry.id if entry.matches(st) else None

    def hash_cache(self) -> dict[bytes, StageEntry]:
        with self.env.begin(db=self._hashes) as txn:
            return {bytes(k): StageEntry.unpack(v) for k, v in txn.cursor()}

    def remember_hashes(self, items: Iterable[tuple[bytes, StageEntry]]) -> None:
        with self.env.begin(write=True, db=self._hashes) as txn:
            for path, entry in items:
                txn.put(path, entry.pack())

    # -- tracked roots --------------------------------------------------------------------

    def roots(self, validate: bool = True) -> dict[str, str]:
        """The tracked roots, each checked (``names.check_root``) unless ``validate`` is
        False: an invalid one (put here by a checkout before roots were validated) is an
        error naming it, never a path a scan would follow. A checkout reads them without
        the check, to compare, so a checkout of a good commit replaces them."""
        with self.env.begin(db=self._roots) as txn:
            roots = {
                bytes(k).decode(errors="surrogateescape"): bytes(v).decode(errors="replace")
                for k, v in txn.cursor()
            }
        if validate:
            for path, kind in roots.items():
                try:
                    check_root(path, kind)
                except CorruptObject as exc:
                    raise CorruptObject(
                        f"{exc} (in .dvault/state; checking out a good commit replaces the tracked "
                        "roots)"
                    ) from None
        return roots

    def set_roots(self, roots: dict[str, str]) -> None:
        """Replace the tracked roots; each is also remembered as *accepted* (see
        :meth:`accepted_roots`), in the same transaction."""
        for path, kind in roots.items():  # writers never store what readers refuse
            check_root(path, kind)
        with self.env.begin(write=True, db=self._roots) as txn:
            accepted = _split_paths(txn.get(b"accepted-roots", db=self._meta))
            accepted.update(roots)
            txn.drop(self._roots, delete=False)
            for path, kind in roots.items():
                txn.put(path.encode(), kind.encode())
            txn.put(
                b"accepted-roots", b"\0".join(p.encode() for p in sorted(accepted)), db=self._meta
            )

    def accepted_roots(self) -> set[str]:
        """Every root this workspace has tracked (added, committed, checked out or
        accepted): a checkout may track one of these again without asking, as when the
        user goes back to a version without a root and forward again. Roots a commit
        brings that are not here need the user's ``--accept-roots``."""
        with self.env.begin(db=self._meta) as txn:
            accepted = _split_paths(txn.get(b"accepted-roots"))
        return accepted | set(self.roots(validate=False))


def _split_paths(raw: bytes | None) -> set[str]:
    """The NUL-separated paths of a ``meta`` value (none when absent)."""
    if not raw:
        return set()
    return {p.decode(errors="surrogateescape") for p in bytes(raw).split(b"\0")}


def now_ns() -> int:
    return time.time_ns()
