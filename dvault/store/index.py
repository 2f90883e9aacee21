"""The LMDB object index: object id → (pack, offset, lengths, type, compression).

The index is a cache of what the pack footers say. Deleting ``.dvault/index`` loses
nothing: :meth:`ObjectIndex.sync_packs` re-reads the footers of packs it does not know,
and runs on every open, so a crash between sealing a pack and indexing it heals itself.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Iterator
from itertools import islice
from pathlib import Path
from typing import Any

from dvault.errors import CorruptObject, StorageError
from dvault.fsutil import MappedFile
from dvault.hashing import ObjectId, ObjectType
from dvault.store.pack import PackEntry

_LOCATION = struct.Struct(">IBBQIQ")  # pack number, type, compression, offset, stored, raw
_PACK_NO = struct.Struct(">I")
_TYPES = {int(t): t for t in ObjectType}

_DAMAGED = "the object index is damaged; run dvault repair (it is rebuilt from the packs)"

MAP_SIZE = 1 << 40
"""LMDB's address-space reservation; the file only grows as entries are added."""
PUT_BATCH = 4096
"""Index entries handed to LMDB in one ``putmulti`` call (~0.5 MB of tuples at a time)."""


class ObjectIndex:
    """Object locations in LMDB, plus the table of pack names they refer to."""

    def __init__(self, path: Path, readonly: bool = False) -> None:
        import lmdb  # deferred: a C extension, loaded only when an index is opened

        if not readonly:
            path.mkdir(exist_ok=True)
        self.path = path
        try:
            self.env = lmdb.open(
                str(path),
                map_size=MAP_SIZE,
                max_dbs=4,
                readahead=False,
                metasync=True,
                sync=True,
                readonly=readonly,
            )
        except lmdb.Error as exc:
            raise StorageError(f"cannot open object index {path}: {exc}") from None
        self._check_size(path)
        self._mapped = MappedFile((path / "data.mdb").resolve())
        self._objects = self.env.open_db(b"objects")
        self._packs = self.env.open_db(b"packs")  # pack number -> pack name
        self._names = self.env.open_db(b"pack-names")  # pack name -> pack number
        self._pack_names: dict[int, str] = {}
        self._load_pack_names()

    def _check_size(self, path: Path) -> None:
        """Refuse a data file shorter than the pages LMDB says are in use (truncated):
        reading past its end would kill the process with SIGBUS, not raise."""
        try:
            size = (path / "data.mdb").stat().st_size
        except OSError:
            return
        needed = (self.env.info()["last_pgno"] + 1) * self.env.stat()["psize"]
        if size < needed:
            self.env.close()
            raise StorageError(
                f"object index {path} is truncated ({size} of {needed} bytes); "
                "run dvault repair (the index is rebuilt from the packs)"
            )

    def _load_pack_names(self) -> None:
        try:
            with self.env.begin(db=self._packs) as txn:
                self._pack_names = {
                    _PACK_NO.unpack(k)[0]: bytes(v).decode() for k, v in txn.cursor()
                }
        except (struct.error, UnicodeDecodeError):
            raise StorageError(_DAMAGED) from None

    def close(self) -> None:
        self.env.close()

    def release_pages(self) -> None:
        """Stop counting the index pages read so far in this process's memory (see
        fsutil.MappedFile): a long add touches every page of a growing index."""
        self._mapped.release()

    @property
    def pack_names(self) -> dict[int, str]:
        return dict(self._pack_names)

    def pack_name(self, number: int) -> str:
        name = self._pack_names.get(number)
        if name is None:  # a pack another process indexed since this index was opened
            self._load_pack_names()
            name = self._pack_names.get(number)
        if name is None:
            raise CorruptObject(f"{_DAMAGED} (no pack number {number})")
        return name

    def _entry(self, oid: bytes, txn: Any) -> bytes | None:
        """``oid``'s stored entry, in the caller's read transaction ``txn`` or its own."""
        self._mapped.touched()
        if txn is None:
            with self.env.begin(db=self._objects) as own:
                found: bytes | None = own.get(oid)
                return found
        raw: bytes | None = txn.get(oid, db=self._objects)
        return raw

    def lookup(self, oid: bytes, txn: Any = None) -> tuple[int, PackEntry] | None:
        """The pack number and entry of ``oid``, or None."""
        raw = self._entry(oid, txn)
        if raw is None:
            return None
        try:
            pack_no, kind, comp, offset, stored, raw_len = _LOCATION.unpack(raw)
            return pack_no, PackEntry(
                ObjectId(bytes(oid)), ObjectType(kind), comp, offset, stored, raw_len
            )
        except (struct.error, ValueError):
            raise CorruptObject(f"{_DAMAGED} (entry of object {bytes(oid).hex()})") from None

    def type_of(self, oid: bytes, txn: Any = None) -> ObjectType | None:
        """The type of ``oid`` from its entry's type byte alone, or None if absent: what
        a walk asks of every file it meets (no :class:`PackEntry` built: 3.8 -> 1.6 µs an
        object, measured at 200k). ``txn``: a read transaction of the caller's, for many
        lookups in one."""
        raw = self._entry(oid, txn)
        if raw is None:
            return None
        if len(raw) != _LOCATION.size or raw[4] not in _TYPES:
            raise CorruptObject(f"{_DAMAGED} (entry of object {bytes(oid).hex()})")
        return _TYPES[raw[4]]

    def locations(
        self, oids: Iterable[bytes]
    ) -> Iterator[tuple[int, int, int, int, int, int] | None]:
        """For each of ``oids`` in one read transaction: (pack number, type, compression,
        offset, stored length, raw length) as stored, or None if absent. The raw fields
        (no entry objects) for a caller that sorts many objects by location
        (ObjectStore.reread); the type is checked, the sizes are the caller's to bound."""
        with self.env.begin(db=self._objects) as txn:
            get = txn.get
            for oid in oids:
                self._mapped.touched()
                raw = get(oid)
                if raw is None:
                    yield None
                    continue
                try:
                    found: tuple[int, int, int, int, int, int] = _LOCATION.unpack(raw)
                except struct.error:
                    raise CorruptObject(f"{_DAMAGED} (entry of object {oid.hex()})") from None
                if found[1] not in _TYPES:
                    raise CorruptObject(f"{_DAMAGED} (entry of object {oid.hex()})")
                yield found

    def pack_number(self, oid: bytes, txn: Any = None) -> int | None:
        """The number of the pack that holds ``oid`` (:meth:`pack_name`), or None."""
        raw = self._entry(oid, txn)
        if raw is None:
            return None
        if len(raw) != _LOCATION.size:
            raise CorruptObject(f"{_DAMAGED} (entry of object {bytes(oid).hex()})")
        return int(_PACK_NO.unpack_from(raw)[0])

    def contains(self, oid: bytes) -> bool:
        self._mapped.touched()
        with self.env.begin(db=self._objects) as txn:
            return txn.get(oid) is not None

    def read_txn(self) -> Any:
        return self.env.begin(db=self._objects)

    def add_pack(self, name: str, entries: Iterable[PackEntry], prefer: bool = False) -> None:
        """Record a sealed pack and its objects in one durable transaction.

        An object already indexed in another pack keeps its first location, unless
        ``prefer`` (repair and gc: the new copy replaces a damaged or doomed one).
        """
        self.add_packs([(name, entries)], prefer)

    def add_packs(
        self, packs: Iterable[tuple[str, Iterable[PackEntry]]], prefer: bool = False
    ) -> None:
        """Record several sealed packs, in order, in one durable transaction (as
        :meth:`add_pack` each): a fetch of many packs indexes them a group at a time.

        Each transaction rewrites every leaf page its ids land on, and random ids land
        all over the tree: 52 packs of ~19k objects took 7.7-7.8 s one transaction each,
        4.3-5.1 s four to a transaction (peak RSS 225-256 MB against 245 MB).

        Entries are written :data:`PUT_BATCH` at a time by LMDB's own loop
        (``putmulti``), in each pack's order, so two entries for one id resolve as with
        one ``put`` each: a million entries in 8 packs took 3.1-3.3 s instead of 3.4-3.5
        s (2.7-2.8 s in one call, but memory would then grow with the pack; sorting each
        pack's entries by id first saved nothing more).
        """
        added: dict[int, str] = {}
        with self.env.begin(write=True) as txn:
            cursor = txn.cursor(db=self._objects)
            for name, entries in packs:
                existing = txn.get(name.encode(), db=self._names)
                if existing is not None:
                    number = _PACK_NO.unpack(existing)[0]
                else:
                    number = max([*self._pack_names, *added], default=0) + 1
                    txn.put(_PACK_NO.pack(number), name.encode(), db=self._packs)
                    txn.put(name.encode(), _PACK_NO.pack(number), db=self._names)
                added[number] = name
                self._put_entries(cursor, number, entries, prefer)
        self._pack_names.update(added)

    def _put_entries(
        self, cursor: Any, number: int, entries: Iterable[PackEntry], prefer: bool
    ) -> None:
        pack = _LOCATION.pack
        stream = iter(entries)
        while batch := [
            (e.id, pack(number, e.type, e.compression, e.offset, e.stored_len, e.raw_len))
            for e in islice(stream, PUT_BATCH)
        ]:
            cursor.putmulti(batch, overwrite=prefer)
            self._mapped.touched(len(batch))  # each write read its leaf page via the map

    def remove_pack(self, name: str) -> None:
        """Forget a pack (used when it is found damaged or removed by gc)."""
        with self.env.begin(write=True) as txn:
            raw = txn.get(name.encode(), db=self._names)
            if raw is None:
                return
            number = _PACK_NO.unpack(raw)[0]
            cursor = txn.cursor(db=self._objects)
            doomed = [bytes(k) for k, v in cursor if _LOCATION.unpack(v)[0] == number]
            for key in doomed:
                txn.delete(key, db=self._objects)
            txn.delete(raw, db=self._packs)
            txn.delete(name.encode(), db=self._names)
        self._pack_names.pop(number, None)

    def find_prefix(self, hex_prefix: str, limit: int = 2) -> list[ObjectId]:
        """Ids starting with ``hex_prefix`` (at most ``limit``), for abbreviated ids."""
        start = bytes.fromhex(hex_prefix[: len(hex_prefix) // 2 * 2])
        found: list[ObjectId] = []
        with self.env.begin(db=self._objects) as txn:
            cursor = txn.cursor()
            if not cursor.set_range(start):
                return found
            for key in cursor.iternext(values=False):
                key = bytes(key)
                if not key.startswith(start):
                    break
                if key.hex().startswith(hex_prefix):
                    found.append(ObjectId(key))
                    if len(found) >= limit:
                        break
        return found

    def iter_ids(self) -> Iterator[tuple[ObjectId, ObjectType]]:
        with self.env.begin(db=self._objects) as txn:
            for key, value in txn.cursor():
                yield ObjectId(bytes(key)), ObjectType(_LOCATION.unpack(value)[1])

    def count(self) -> int:
        with self.env.begin(db=self._objects) as txn:
            return int(txn.stat(self._objects)["entries"])
