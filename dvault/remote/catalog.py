"""Which objects a remote holds, and where: the union of its packs' footers.

A footer is fetched once per pack with two range reads (trailer, then footer), verified
against the pack's name (a pack is named by the blake3 of its footer), and cached under
``.dvault/remotes/<name>/footers/``; since packs never change, the cache never goes stale.
"""

from __future__ import annotations

import re
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


class RemoteCatalog:
    def __init__(self, backend: Backend, cache_dir: Path) -> None:
        self.backend = backend
        self.cache_dir = cache_dir
        self.packs: dict[str, int] = {}  # pack name -> size
        self.objects: dict[ObjectId, tuple[str, PackEntry]] = {}

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
        new = [name for name in packs if name not in self.packs]
        with ThreadPoolExecutor(8) as pool:
            for name, entries in zip(
                new, pool.map(lambda n: self._footer(n, packs[n]), new), strict=True
            ):
                for entry in entries:
                    self.objects.setdefault(entry.id, (name, entry))
        self.packs = packs

    def _footer(self, name: str, size: int) -> list[PackEntry]:
        cached = self.cache_dir / f"{name}.footer"
        try:
            blob = cached.read_bytes()
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
            return entries
        return self._parse(name, blob, size)

    @staticmethod
    def _parse(name: str, blob: bytes, size: int) -> list[PackEntry]:
        footer, trailer = blob[: -TRAILER.size], blob[-TRAILER.size :]
        footer_offset, _, checksum = parse_trailer(trailer, size, name)
        return parse_footer(footer, footer_offset, checksum, name)

    def has(self, oid: bytes) -> bool:
        return oid in self.objects

    def type_of(self, oid: bytes) -> ObjectType | None:
        found = self.objects.get(ObjectId(oid))
        return None if found is None else found[1].type

    def locate(self, oid: bytes) -> tuple[str, PackEntry] | None:
        return self.objects.get(ObjectId(oid))


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
