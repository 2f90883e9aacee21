"""Which objects a remote holds, and where: the union of its packs' footers.

A footer is fetched once per pack with two range reads (trailer, then footer), verified
against the pack's name (a pack is named by the blake3 of its footer), and cached under
``.dvault/remotes/<name>/footers/``; since packs never change, the cache never goes stale.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from dvault.errors import CorruptPack
from dvault.fsutil import write_durable
from dvault.hashing import ObjectId, ObjectType
from dvault.remote.backend import Backend, RemoteTampered
from dvault.store.pack import TRAILER, PackEntry, parse_footer, parse_trailer

PACK_PREFIX = "packs/"
_PACK_NAME = re.compile(r"[0-9a-f]{64}\.pack")


def pack_key(name: str) -> str:
    return f"{PACK_PREFIX}{name}.pack"


# An object's location, packed into one int (about 48 bytes, against ~300 for a tuple of
# pack name and PackEntry): at a million objects the catalog is a few hundred MB less.
_KIND_BITS, _COMP_BITS, _LEN_BITS, _OFFSET_BITS = 8, 8, 32, 64


def _pack_location(pack_no: int, e: PackEntry) -> int:
    value = pack_no
    for field, bits in (
        (e.offset, _OFFSET_BITS),
        (e.stored_len, _LEN_BITS),
        (e.raw_len, _LEN_BITS),
        (e.compression, _COMP_BITS),
        (int(e.type), _KIND_BITS),
    ):
        value = value << bits | field
    return value


def _unpack_location(oid: bytes, value: int) -> tuple[int, PackEntry]:
    fields = []
    for bits in (_KIND_BITS, _COMP_BITS, _LEN_BITS, _LEN_BITS, _OFFSET_BITS):
        fields.append(value & ((1 << bits) - 1))
        value >>= bits
    kind, comp, raw_len, stored_len, offset = fields
    return value, PackEntry(
        ObjectId(bytes(oid)), ObjectType(kind), comp, offset, stored_len, raw_len
    )


class RemoteCatalog:
    def __init__(self, backend: Backend, cache_dir: Path) -> None:
        self.backend = backend
        self.cache_dir = cache_dir
        self.packs: dict[str, int] = {}  # pack name -> size
        self._names: list[str] = []  # pack number -> name
        self._objects: dict[bytes, int] = {}  # id -> packed location (_pack_location)
        self._released = False

    def refresh(self) -> None:
        """List the remote's packs and load every footer (from cache, or by range reads)."""
        listed = self.backend.list(PACK_PREFIX)
        packs = {}
        for key, size in listed.items():
            name = key[len(PACK_PREFIX) :]
            # only dvault's own names (64 hex digits): anything else is not a pack of ours,
            # and must never become a path in the local footer cache
            if _PACK_NAME.fullmatch(name):
                packs[name[: -len(".pack")]] = size
        if not self._released:  # else the next lookup loads every pack
            self._load([name for name in packs if name not in self.packs], packs)
        self.packs = packs

    def _load(self, names: list[str], sizes: dict[str, int]) -> None:
        """Add the objects of the packs ``names`` to the map (footers fetched in parallel)."""
        with ThreadPoolExecutor(8) as pool:
            for name, entries in zip(
                names, pool.map(lambda n: self._footer(n, sizes[n]), names), strict=True
            ):
                number = len(self._names)
                self._names.append(name)
                objects = self._objects
                for entry in entries:
                    if entry.id not in objects:
                        objects[entry.id] = _pack_location(number, entry)

    def release(self) -> None:
        """Forget where each object is (~150 MB at a million objects) but not which packs
        exist: a fetch that has planned its transfer needs only pack sizes. The next
        lookup loads the map again, from the footer cache."""
        self._objects = {}
        self._names = []
        self._released = True

    def _map(self) -> dict[bytes, int]:
        if self._released:
            self._released = False
            self._load(list(self.packs), self.packs)
        return self._objects

    def confirm(self, names: list[str], sizes: dict[str, int]) -> list[str]:
        """Which of ``names`` the remote does not list with the expected size and a footer
        that verifies against its name (a pack is named by its footer's digest, so a listed
        pack with a good footer holds exactly the objects the local pack of that name
        holds). Unlike :meth:`refresh`, nothing is kept in memory: a push of a million
        objects confirms a few packs instead of re-reading a million footer entries."""
        listed = self.backend.list(PACK_PREFIX)
        bad = []
        for name in names:
            size = listed.get(pack_key(name))
            if size != sizes[name]:
                bad.append(name)
                continue
            try:
                self._footer(name, size, keep=False)
            except (CorruptPack, RemoteTampered):
                bad.append(name)
        return bad

    def _footer(self, name: str, size: int, keep: bool = True) -> list[PackEntry]:
        """The pack's entries, from the cache or the remote; ``keep`` False always reads
        the remote (a confirmation must not trust the cache) and returns no entries."""
        cached = self.cache_dir / f"{name}.footer"
        try:
            blob = cached.read_bytes() if keep else None
        except FileNotFoundError:
            blob = None
        if blob is None or len(blob) < TRAILER.size:
            key = pack_key(name)
            trailer = self.backend.read_exact(key, size - TRAILER.size, TRAILER.size)
            try:
                footer_offset, _, _ = parse_trailer(trailer, size, f"{name} (remote)")
            except CorruptPack as exc:
                raise RemoteTampered(f"remote {self.backend.describe()}: {exc}") from None
            footer = self.backend.read_exact(
                key, footer_offset, size - TRAILER.size - footer_offset
            )
            blob = footer + trailer
            self.cache_dir.mkdir(parents=True, exist_ok=True)
            try:
                entries = self._parse(name, blob, size)
            except CorruptPack as exc:
                raise RemoteTampered(f"remote {self.backend.describe()}: {exc}") from None
            write_durable(cached, blob)
            return entries if keep else []
        return self._parse(name, blob, size)

    @staticmethod
    def _parse(name: str, blob: bytes, size: int) -> list[PackEntry]:
        footer, trailer = blob[: -TRAILER.size], blob[-TRAILER.size :]
        footer_offset, _, checksum = parse_trailer(trailer, size, name)
        return parse_footer(footer, footer_offset, checksum, name)

    def __len__(self) -> int:
        return len(self._map())

    def __iter__(self) -> Iterator[bytes]:
        """Every object id the remote holds (abbreviated ids are looked up in them)."""
        return iter(self._map())

    def has(self, oid: bytes) -> bool:
        return oid in self._map()

    def type_of(self, oid: bytes) -> ObjectType | None:
        value = self._map().get(oid)
        return None if value is None else ObjectType(value & ((1 << _KIND_BITS) - 1))

    def locate(self, oid: bytes) -> tuple[str, PackEntry] | None:
        value = self._map().get(oid)
        if value is None:
            return None
        number, entry = _unpack_location(oid, value)
        return self._names[number], entry


def cached_objects(dvault_dir: Path) -> set[ObjectId]:
    """Every object the footer caches of all remotes list, without contacting a remote.

    A partial clone holds only part of the history's trees and data; verify and gc count
    what a remote holds and this clone never fetched as remote-only, not as missing.
    """
    found: set[ObjectId] = set()
    for path in (dvault_dir / "remotes").glob("*/footers/*.footer"):
        name = path.stem
        blob = path.read_bytes()
        if not _PACK_NAME.fullmatch(f"{name}.pack") or len(blob) < TRAILER.size:
            continue
        footer_offset = TRAILER.unpack(blob[-TRAILER.size :])[0]
        try:
            entries = RemoteCatalog._parse(name, blob, footer_offset + len(blob))
        except CorruptPack:
            continue  # a damaged cache entry is re-fetched by the next refresh
        found.update(entry.id for entry in entries)
    return found
