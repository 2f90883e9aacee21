"""Which objects a remote holds, and where: the union of its packs' footers.

A footer is fetched once per pack with two range reads (trailer, then footer), checked
(against its checksum, and against the pack's name for a version 1 pack), and cached
under ``.dvault/remotes/<name>/footers/``; since packs never change, the cache never goes
stale.

Whoever can create files on a remote can add packs, so a footer is a *claim*, not a
fact: a pack may list ids whose bytes it does not hold. The catalog therefore keeps
every location of an id (several packs may list it) and readers fall back to the next
one when a copy fails its hash (:meth:`RemoteCatalog.mark_bad`). A ``<64 hex>.pack``
whose trailer or footer cannot be read (junk, a footer not matching its name, a size
that does not add up) is a *hole*: reported once, remembered, skipped — never a failure
of every fetch, push and clone after it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from dvault.errors import CorruptPack
from dvault.fsutil import write_durable
from dvault.hashing import ObjectId, ObjectType
from dvault.remote.backend import MAX_FOOTER, Backend, RemoteTampered, TooLarge
from dvault.store.pack import (
    TRAILER,
    PackEntry,
    named_by_footer,
    parse_footer,
    parse_trailer,
)

PACK_PREFIX = "packs/"
_PACK_NAME = re.compile(r"[0-9a-f]{64}\.pack")
HOLE_SUFFIX = ".hole"


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


_NUMBER_SHIFT = _KIND_BITS + _COMP_BITS + 2 * _LEN_BITS + _OFFSET_BITS


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
    def __init__(
        self, backend: Backend, cache_dir: Path, warn: Callable[[str], None] | None = None
    ) -> None:
        self.backend = backend
        self.cache_dir = cache_dir
        self.warn = warn
        self.packs: dict[str, int] = {}  # readable pack name -> size
        self.holes: dict[str, str] = {}  # listed pack name -> why it cannot be read
        self.bad: dict[str, str] = {}  # pack -> an object it failed to serve (this run)
        self._names: list[str] = []  # pack number -> name
        self._objects: dict[bytes, int] = {}  # id -> first packed location (_pack_location)
        self._more: dict[bytes, list[int]] = {}  # id -> further locations (rare)
        self._released = False

    def refresh(self) -> None:
        """List the remote's packs and load every footer (from cache, or by range reads);
        a pack whose footer cannot be read becomes a hole."""
        listed = self.backend.list(PACK_PREFIX)
        sizes = {}
        for key, size in listed.items():
            name = key[len(PACK_PREFIX) :]
            # only dvault's own names (64 hex digits): anything else is not a pack of ours,
            # and must never become a path in the local footer cache
            if _PACK_NAME.fullmatch(name):
                sizes[name[: -len(".pack")]] = size
        new = [name for name in sizes if name not in self.packs and name not in self.holes]
        if self._released:  # the next lookup loads every pack
            readable = [name for name in new if self._known_hole(name) is None]
        else:
            readable = self._load(new, sizes)
        self.packs = {name: size for name, size in sizes.items() if name in self.packs}
        self.packs.update((name, sizes[name]) for name in readable)
        self.holes = {name: why for name, why in self.holes.items() if name in sizes}

    def _load(self, names: list[str], sizes: dict[str, int]) -> list[str]:
        """Add the objects of the packs ``names`` to the map (footers fetched in parallel);
        returns those that could be read."""
        with ThreadPoolExecutor(8) as pool:
            footers = list(pool.map(lambda n: self._entries(n, sizes[n]), names))
        readable = []
        for name, entries in zip(names, footers, strict=True):
            if entries is None:
                continue
            readable.append(name)
            number = len(self._names)
            self._names.append(name)
            objects, more = self._objects, self._more
            for entry in entries:
                location = _pack_location(number, entry)
                if entry.id not in objects:
                    objects[entry.id] = location
                else:
                    more.setdefault(entry.id, []).append(location)
        return readable

    def _entries(self, name: str, size: int) -> list[PackEntry] | None:
        """A pack's footer entries, or None for a hole (reported the first time)."""
        if self._known_hole(name) is not None:
            return None
        try:
            return self._footer(name, size)
        except (CorruptPack, RemoteTampered, TooLarge) as exc:
            self._hole(name, str(exc))
            return None

    def entries_of(self, name: str) -> list[PackEntry] | None:
        """The footer entries of one listed pack (from the cache), None for a hole."""
        if name not in self.packs:
            return None
        return self._entries(name, self.packs[name])

    def _known_hole(self, name: str) -> str | None:
        """Why a pack is a hole, when this clone found it to be one before."""
        if name in self.holes:
            return self.holes[name]
        try:
            why = (self.cache_dir / f"{name}{HOLE_SUFFIX}").read_text(errors="replace")
        except OSError:
            return None
        self.holes[name] = why
        return why

    def _hole(self, name: str, why: str) -> None:
        """Record a pack that cannot be read, and say so once (``verify --remote`` lists
        every hole each time and fails)."""
        self.holes[name] = why
        self.cache_dir.mkdir(parents=True, exist_ok=True)
        write_durable(self.cache_dir / f"{name}{HOLE_SUFFIX}", why.encode())
        if self.warn is not None:
            self.warn(f"{why}; skipping packs/{name}.pack (dvault verify --remote lists it)")

    def release(self) -> None:
        """Forget where each object is (~150 MB at a million objects) but not which packs
        exist: a fetch that has planned its transfer needs only pack sizes. The next
        lookup loads the map again, from the footer cache."""
        self._objects = {}
        self._more = {}
        self._names = []
        self._released = True

    def _map(self) -> dict[bytes, int]:
        if self._released:
            self._released = False
            readable = set(self._load(list(self.packs), self.packs))
            self.packs = {name: size for name, size in self.packs.items() if name in readable}
        return self._objects

    def _footer(self, name: str, size: int) -> list[PackEntry]:
        """The pack's entries, from the cache or else by two range reads, bounded by the
        listed size and :data:`MAX_FOOTER` (CorruptPack or TooLarge: a hole)."""
        cached = self.cache_dir / f"{name}.footer"
        try:
            blob = cached.read_bytes()
        except FileNotFoundError:
            blob = None
        where = f"remote {self.backend.describe()}: pack {name[:16]}"
        if blob is None or len(blob) < TRAILER.size:
            key = pack_key(name)
            if size < TRAILER.size:
                raise CorruptPack(f"{where} is truncated ({size} bytes)")
            trailer = self.backend.read_exact(key, size - TRAILER.size, TRAILER.size)
            try:
                footer_offset, _, _ = parse_trailer(trailer, size, name[:16])
            except CorruptPack as exc:
                raise CorruptPack(f"remote {self.backend.describe()}: {exc}") from None
            footer_size = size - TRAILER.size - footer_offset
            if footer_size > MAX_FOOTER:
                raise TooLarge(
                    f"{where} declares a footer of {footer_size} bytes (limit {MAX_FOOTER})"
                )
            footer = self.backend.read_exact(key, footer_offset, footer_size)
            blob = footer + trailer
            self.cache_dir.mkdir(parents=True, exist_ok=True)
            try:
                entries = self._parse(name, blob, size)
            except CorruptPack as exc:
                raise CorruptPack(f"remote {self.backend.describe()}: {exc}") from None
            write_durable(cached, blob)
            return entries
        return self._parse(name, blob, size)

    def remember(self, name: str, local: Path, size: int) -> None:
        """Cache the footer of a pack this clone just uploaded from ``local`` (the same
        bytes), and count the pack as listed: no range reads for it next time."""
        with open(local, "rb") as f:
            f.seek(size - TRAILER.size)
            trailer = f.read(TRAILER.size)
            footer_offset, _, _ = parse_trailer(trailer, size, name)
            f.seek(footer_offset)
            blob = f.read(size - TRAILER.size - footer_offset) + trailer
        self.cache_dir.mkdir(parents=True, exist_ok=True)
        write_durable(self.cache_dir / f"{name}.footer", blob)
        self.packs[name] = size

    @staticmethod
    def _parse(name: str, blob: bytes, size: int) -> list[PackEntry]:
        footer, trailer = blob[: -TRAILER.size], blob[-TRAILER.size :]
        footer_offset, _, checksum = parse_trailer(trailer, size, name)
        return parse_footer(footer, footer_offset, checksum, name, named_by_footer(trailer))

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

    def held_by(self, oid: bytes, packs: set[str], kind: ObjectType | None = None) -> bool:
        """True when one of ``packs`` lists ``oid`` (as a ``kind``, when given): a cheap
        test for push, which trusts only packs it confirmed itself."""
        value = self._map().get(oid)
        if value is None or not packs:
            return False
        if kind is not None and value & ((1 << _KIND_BITS) - 1) != kind:
            return False
        names = self._names
        return any(names[v >> _NUMBER_SHIFT] in packs for v in (value, *self._more.get(oid, ())))

    def locations(self, oid: bytes) -> list[tuple[str, PackEntry]]:
        """Every place a pack claims to hold ``oid``, packs found bad this run last."""
        objects = self._map()
        value = objects.get(oid)
        if value is None:
            return []
        found = [_unpack_location(oid, v) for v in (value, *self._more.get(oid, ()))]
        placed = [(self._names[number], entry) for number, entry in found]
        return sorted(placed, key=lambda item: item[0] in self.bad)

    def locate(self, oid: bytes) -> tuple[str, PackEntry] | None:
        """The first location of ``oid`` in a pack not found bad (else any)."""
        value = self._map().get(oid)
        if value is None:
            return None
        number, entry = _unpack_location(oid, value)
        if self._names[number] not in self.bad or oid not in self._more:
            return self._names[number], entry
        return self.locations(oid)[0]

    def mark_bad(self, pack: str, why: str) -> bool:
        """Remember that ``pack`` served a copy failing its hash; its other claims are
        tried last from now on. True the first time (the caller reports it)."""
        if pack in self.bad:
            return False
        self.bad[pack] = why
        return True


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
