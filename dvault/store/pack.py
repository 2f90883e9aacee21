"""Pack files: append-only containers of compressed objects, sealed with a footer.

Layout (docs/format.md has the byte-level specification)::

    header   "DVPK" version:u8 0:u8[3]                                      8 bytes
    record*  type:u8 compression:u8 0:u16 stored_len:u32 raw_len:u64 id:32  48 bytes
             stored bytes
    footer   entry* id:32 type:u8 compression:u8 0:u16 offset:u64 stored_len:u32 raw_len:u64
    trailer  footer_offset:u64 count:u64 blake3(footer entries):32 "DVPKEND" version:u8

Each record repeats what the footer says so an unsealed or damaged pack can still be
salvaged record by record; the footer lets the index be rebuilt by reading a few KB per
pack. A sealed pack never changes. Version 2 packs (written since issue 17) are named by
the blake3 of *all* their bytes, as restic names its packs: the name then commits to the
stored bytes themselves, so nobody can take a pack's name on a remote before it is
uploaded without having exactly its bytes (an attacker who can predict a footer — from a
public file's content — could take a footer-named pack's name with junk data, and the
honest pack could never be uploaded). The writer hashes the bytes as it writes them.
Version 1 packs, named by the blake3 of their footer (the trailer's checksum), are still
read; their name is checked against the footer, a version 2 name against the whole file
when it is read whole (:func:`pack_digest`).
"""

from __future__ import annotations

import contextlib
import os
import struct
from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from blake3 import blake3

from dvault.errors import CorruptObject, CorruptPack
from dvault.fsutil import fsync_dir, os_error
from dvault.hashing import ObjectId, ObjectType, object_id
from dvault.store.appendfile import AppendFile
from dvault.store.codec import (  # re-exported: readers and writers of packs import them here
    MAX_OBJECT_SIZE as MAX_OBJECT_SIZE,
)
from dvault.store.codec import (
    MAX_SIZE as MAX_SIZE,
)
from dvault.store.codec import (
    RAW as RAW,
)
from dvault.store.codec import (
    ZSTD as ZSTD,
)
from dvault.store.codec import (
    check_size as check_size,
)
from dvault.store.codec import (
    compress as compress,
)
from dvault.store.codec import (
    decompress as decompress,
)
from dvault.store.codec import (
    zstd_bound as zstd_bound,
)

MAGIC = b"DVPK"
VERSION = 2
HEADER = MAGIC + bytes([VERSION, 0, 0, 0])
HEADER_V1 = MAGIC + bytes([1, 0, 0, 0])
TRAILER_MAGIC = b"DVPKEND\x02"
TRAILER_MAGIC_V1 = b"DVPKEND\x01"

RECORD = struct.Struct(">BBHIQ32s")
FOOTER_ENTRY = struct.Struct(">32sBBHQIQ")
TRAILER = struct.Struct(">QQ32s8s")

PACK_TARGET_SIZE = 64 << 20
"""A pack is sealed once it holds this many stored bytes."""


@dataclass(frozen=True, slots=True)
class PackEntry:
    """Where one object sits inside a pack."""

    id: ObjectId
    type: ObjectType
    compression: int
    offset: int
    stored_len: int
    raw_len: int


def unpack_object(oid: bytes, entry: PackEntry, stored: bytes, where: str) -> bytes:
    """Decompress one stored object and check it against its id — the single place where
    bytes read from a pack (local or remote) become trusted content."""
    if len(stored) != entry.stored_len:
        raise CorruptObject(f"{where} is truncated")
    try:
        raw = decompress(entry.compression, stored, entry.raw_len, entry.type)
    except CorruptObject as exc:
        raise CorruptObject(f"{where}: {exc}") from None
    if object_id(entry.type, raw) != oid:
        raise CorruptObject(f"{where} fails its hash check (corrupt)")
    return raw


class PackWriter:
    """Appends records to a temporary pack; :meth:`seal` makes it durable and visible."""

    def __init__(self, packs_dir: Path, tmp_dir: Path) -> None:
        self.packs_dir = packs_dir
        self.tmp_path = tmp_dir / f"pack-{os.getpid()}-{os.urandom(6).hex()}.tmp"
        self.entries: list[PackEntry] = []
        self._digest = blake3()  # of every byte written: the pack's name
        try:
            # few large writes that skip the page cache, made (and hashed) on a thread of
            # their own while the next objects are gathered (see appendfile)
            self._file = AppendFile(self.tmp_path, background=True, seen=self._digest.update)
            self._write(HEADER)
        except OSError as exc:
            raise os_error(exc, "create pack", self.tmp_path) from None
        self.size = len(HEADER)

    def _write(self, data: bytes | memoryview) -> None:
        self._file.write(data)  # the file feeds every byte, in order, to the digest

    def add(
        self,
        oid: ObjectId,
        kind: ObjectType,
        compression: int,
        stored: bytes | memoryview,
        raw_len: int,
        salt: int = 0,
    ) -> PackEntry:
        """Append one stored object. ``salt`` fills the record header's 16-bit field that
        no reader interprets (0 but in :func:`renamed_copy`): it changes the pack's bytes,
        hence its name, and nothing else."""
        check_size(kind, compression, len(stored), raw_len)  # never write what readers refuse
        head = RECORD.pack(kind, compression, salt, len(stored), raw_len, oid)
        try:
            self._write(head)
            self._write(stored)
        except OSError as exc:
            raise os_error(exc, "write pack", self.tmp_path) from None
        entry = PackEntry(oid, kind, compression, self.size + RECORD.size, len(stored), raw_len)
        self.size += RECORD.size + len(stored)
        self.entries.append(entry)
        return entry

    def seal(self) -> str:
        """Write the footer, fsync, and rename to ``<blake3 of the whole file>.pack``;
        returns the pack name."""
        footer = b"".join(
            FOOTER_ENTRY.pack(e.id, e.type, e.compression, 0, e.offset, e.stored_len, e.raw_len)
            for e in self.entries
        )
        checksum = blake3(footer).digest()
        trailer = TRAILER.pack(self.size, len(self.entries), checksum, TRAILER_MAGIC)
        try:
            self._write(footer)
            self._write(trailer)
            self._file.finish()
            name = self._digest.hexdigest()
            final = self.packs_dir / f"{name}.pack"
            if final.exists():  # identical content already sealed (content-addressed)
                os.unlink(self.tmp_path)
            else:
                os.rename(self.tmp_path, final)
            fsync_dir(self.packs_dir)
        except OSError as exc:
            self.abort()
            raise os_error(exc, "seal pack", self.tmp_path) from None
        return name

    def abort(self) -> None:
        """Drop the unsealed pack (nothing refers to it yet)."""
        with contextlib.suppress(OSError):
            self._file.close()
        with contextlib.suppress(OSError):
            os.unlink(self.tmp_path)


MAX_SALT = 0xFFFF


def renamed_copy(
    path: Path,
    name: str,
    out_dir: Path,
    tmp_dir: Path,
    avoid: set[str],
    drop: Collection[bytes] = frozenset(),
) -> str | None:
    """Copy the sealed pack ``path`` (named ``name``) into ``out_dir`` under another name:
    its objects but ``drop`` in the same order, each verified as it is copied, with the
    first record's salt set to the smallest value whose name is neither ``name`` nor in
    ``avoid`` (deterministic: a rerun makes the same copy). Push sends such a copy
    instead of a pack an open prune plan names, or of one holding erased objects
    (dvault/remote/push.py). Returns the copy's name; None when every object is dropped."""
    entries = [e for e in read_footer(path) if e.id not in drop]
    if not entries:
        return None
    for salt in range(MAX_SALT + 1):
        writer = PackWriter(out_dir, tmp_dir)
        try:
            with open(path, "rb") as f:
                for i, entry in enumerate(entries):
                    stored = os.pread(f.fileno(), entry.stored_len, entry.offset)
                    unpack_object(entry.id, entry, stored, f"object {entry.id.hex()} in {name}")
                    first = salt if i == 0 else 0
                    writer.add(
                        entry.id, entry.type, entry.compression, stored, entry.raw_len, first
                    )
        except OSError as exc:
            writer.abort()
            raise os_error(exc, "read pack", path) from None
        except BaseException:
            writer.abort()
            raise
        copy = writer.seal()
        if copy != name and copy not in avoid:
            return copy
        with contextlib.suppress(OSError):
            os.unlink(out_dir / f"{copy}.pack")
    raise CorruptPack(f"pack {name}: no salt gives a name outside the {len(avoid)} avoided")


def parse_trailer(trailer: bytes, pack_size: int, name: str) -> tuple[int, int, bytes]:
    """(footer offset, object count, footer checksum) from a pack's last 56 bytes."""
    if len(trailer) != TRAILER.size:
        raise CorruptPack(f"pack {name} is truncated")
    footer_offset, count, checksum, magic = TRAILER.unpack(trailer)
    if magic not in (TRAILER_MAGIC, TRAILER_MAGIC_V1):
        raise CorruptPack(f"pack {name} has no valid trailer (truncated?)")
    if footer_offset < len(HEADER) or (
        footer_offset + count * FOOTER_ENTRY.size + TRAILER.size != pack_size
    ):
        raise CorruptPack(f"pack {name} footer size does not match its trailer")
    return footer_offset, count, checksum


def named_by_footer(trailer: bytes) -> bool:
    """True for a version 1 pack (named by its footer's digest), from its trailer."""
    return trailer[-len(TRAILER_MAGIC_V1) :] == TRAILER_MAGIC_V1


def parse_footer(
    footer: bytes, footer_offset: int, checksum: bytes, name: str | None, by_footer: bool = True
) -> list[PackEntry]:
    """Validate footer bytes against their checksum (and the pack's name) and parse them.

    ``name`` is the pack's file name without ``.pack``; a version 1 (``by_footer``) footer
    fetched from a remote by a range read is thereby verified against the name it was
    listed under. A version 2 name covers every byte: only a whole read can check it.
    """
    where = check_footer(footer, checksum, name, by_footer)
    return list(iter_footer(footer, footer_offset, where))


def check_footer(footer: bytes, checksum: bytes, name: str | None, by_footer: bool = True) -> str:
    """Check footer bytes against the trailer's checksum and (a version 1 pack's) name;
    returns how errors name the pack."""
    where = f"pack {name or '?'}"
    if blake3(footer).digest() != checksum:
        raise CorruptPack(f"{where} footer fails its checksum")
    if by_footer and name is not None and name != checksum.hex():
        raise CorruptPack(f"{where} is not named after its footer ({checksum.hex()})")
    if len(footer) % FOOTER_ENTRY.size:
        raise CorruptPack(f"{where} footer is truncated")
    return where


def iter_footer(footer: bytes, footer_offset: int, where: str) -> Iterator[PackEntry]:
    """The entries of a footer already checked by :func:`parse_footer`'s rules, one at a
    time (a million-object pack's entries as objects are ~280 MB; its footer is 56 MB)."""
    for oid, kind, comp, zero, offset, stored_len, raw_len in FOOTER_ENTRY.iter_unpack(footer):
        _check_entry(where, footer_offset, kind, comp, zero, offset, stored_len, raw_len)
        yield PackEntry(ObjectId(oid), ObjectType(kind), comp, offset, stored_len, raw_len)


def _check_entry(
    where: str,
    footer_offset: int,
    kind: int,
    comp: int,
    zero: int,
    offset: int,
    stored: int,
    raw: int,
) -> None:
    """One footer entry's rules: sizes a writer produces, and bytes inside the records."""
    try:
        check_size(kind, comp, stored, raw)
    except CorruptObject as exc:
        raise CorruptPack(f"{where} footer lists an invalid object: {exc}") from None
    if zero or offset < len(HEADER) + RECORD.size or offset + stored > footer_offset:
        raise CorruptPack(f"{where} footer has an invalid entry")


def read_footer(path: Path, whole: bool = False) -> list[PackEntry]:
    """The object list of a sealed pack, validated against its checksum and name (a
    version 2 pack's name only with ``whole``: that reads and hashes the whole file)."""
    footer, footer_offset = read_footer_bytes(path, whole)
    return list(iter_footer(footer, footer_offset, f"pack {path.stem}"))


def check_pack_footer(path: Path) -> None:
    """Raise CorruptPack unless ``path``'s footer passes every check :func:`read_footer`
    makes, without building its entries: what verify asks of every pack (21,000 entries
    took ~60 ms built as objects, ~8 ms checked in place)."""
    footer, footer_offset = read_footer_bytes(path)
    where = f"pack {path.stem}"
    for _oid, kind, comp, zero, offset, stored, raw in FOOTER_ENTRY.iter_unpack(footer):
        _check_entry(where, footer_offset, kind, comp, zero, offset, stored, raw)


def read_footer_bytes(
    path: Path, whole: bool = False, name: str | None = None
) -> tuple[bytes, int]:
    """A sealed pack's footer bytes (checked against its checksum and name, see
    :func:`read_footer`) and offset; :func:`iter_footer` yields its entries. ``name``
    defaults to the file's (a download in a temporary file gives the pack's)."""
    if name is None and path.suffix == ".pack":
        name = path.stem
    try:
        with open(path, "rb") as f:
            end = f.seek(0, os.SEEK_END)
            if end < len(HEADER) + TRAILER.size:
                raise CorruptPack(f"pack {path.name} is truncated ({end} bytes)")
            f.seek(0)
            header = f.read(len(HEADER))
            f.seek(end - TRAILER.size)
            trailer = f.read(TRAILER.size)
            by_footer = named_by_footer(trailer)
            if header != (HEADER_V1 if by_footer else HEADER):
                raise CorruptPack(f"pack {path.name} has a bad header")
            footer_offset, count, checksum = parse_trailer(trailer, end, path.name)
            f.seek(footer_offset)
            footer = f.read(count * FOOTER_ENTRY.size)
    except OSError as exc:
        raise os_error(exc, "read pack", path) from None
    check_footer(footer, checksum, name, by_footer)
    if whole and not by_footer and name is not None and pack_digest(path) != name:
        raise CorruptPack(f"pack {name} is not named after its content")
    return footer, footer_offset


Verified = Callable[[PackEntry, bytes], None]
"""Takes an object's entry and its body once the body passed its hash check."""


@dataclass(frozen=True)
class PackCheck:
    """What :func:`check_pack` found in a whole pack file."""

    footer: bytes
    footer_offset: int
    damaged: dict[ObjectId, str]  # objects failing their hash -> why
    misnamed: bool  # a version 2 pack whose bytes do not hash to its name

    @property
    def ok(self) -> bool:
        return not self.damaged and not self.misnamed


def check_pack(path: Path, name: str, each: Verified | None = None) -> PackCheck:
    """Check a whole pack file that claims to be pack ``name``: header, trailer and footer
    (CorruptPack when they are unreadable), every object it lists (decompressed and
    hashed), and its name (a version 2 name is the digest of every byte). One sequential
    pass reads each object once and feeds the same bytes to the digest (a second pass
    only for a footer whose entries are out of order, which no dvault writer makes), in
    buffers of one object: memory stays that of the largest object.

    ``each(entry, body)`` is given every object whose body passed its hash check, as it
    is checked: a clone writes work-tree files from those bytes instead of reading them
    back from the store (workspace/prefill.py). An object of a pack that fails is still
    its id's content; whether the pack is kept is the caller's decision."""
    footer, footer_offset = read_footer_bytes(path, name=name)
    where = f"pack {name[:16]}"
    damaged: dict[ObjectId, str] = {}
    try:
        with open(path, "rb") as f:
            whole = _named_by_content(f)
            digest = blake3() if whole else None
            position, in_order = 0, True
            for entry in iter_footer(footer, footer_offset, where):
                if entry.offset >= position:
                    between = f.read(entry.offset - position)
                    stored = f.read(entry.stored_len)
                    if digest is not None:
                        digest.update(between)
                        digest.update(stored)
                    position = entry.offset + len(stored)
                else:
                    in_order = False
                    stored = os.pread(f.fileno(), entry.stored_len, entry.offset)
                try:
                    body = unpack_object(
                        entry.id, entry, stored, f"object {entry.id.hex()} in {where}"
                    )
                except CorruptObject as exc:
                    damaged.setdefault(entry.id, str(exc))
                    continue
                if each is not None:
                    each(entry, body)
            if digest is not None and not in_order:
                f.seek(0)
                digest, position = blake3(), 0
            while digest is not None and (block := f.read(8 << 20)):
                digest.update(block)
    except OSError as exc:
        raise os_error(exc, "read pack", path) from None
    misnamed = digest is not None and digest.hexdigest() != name
    return PackCheck(footer, footer_offset, damaged, misnamed)


def _named_by_content(f: BinaryIO) -> bool:
    """True for a version 2 pack (its trailer's version byte), leaving ``f`` at 0."""
    f.seek(-len(TRAILER_MAGIC), os.SEEK_END)
    version_2 = f.read(len(TRAILER_MAGIC)) == TRAILER_MAGIC
    f.seek(0)
    return version_2


def verify_pack(path: Path, name: str) -> tuple[bytes, int]:
    """:func:`check_pack`, raising CorruptObject or CorruptPack for anything found;
    returns the footer bytes and offset."""
    found = check_pack(path, name)
    if found.damaged:
        raise CorruptObject(next(iter(found.damaged.values())))
    if found.misnamed:
        raise CorruptPack(f"pack {name[:16]} is not named after its content")
    return found.footer, found.footer_offset


def pack_digest(path: Path) -> str:
    """blake3 of a whole file, hex: a version 2 pack's name."""
    digest = blake3()
    try:
        with open(path, "rb") as f:
            while block := f.read(8 << 20):
                digest.update(block)
    except OSError as exc:
        raise os_error(exc, "read pack", path) from None
    return digest.hexdigest()


def scan_records(path: Path) -> Iterator[tuple[PackEntry, bytes]]:
    """Walk records from the start, yielding each intact object (for salvage of damaged packs).

    Stops at the first record that does not parse; records whose content fails its id are
    skipped. Used by repair, never on the normal read path.
    """
    with open(path, "rb") as f:
        f.seek(len(HEADER))  # not checked: records verify themselves, a bad header hides none
        offset = len(HEADER)
        while True:
            head = f.read(RECORD.size)
            if len(head) < RECORD.size:
                return
            kind, comp, _, stored_len, raw_len, oid = RECORD.unpack(head)
            try:
                check_size(kind, comp, stored_len, raw_len)
            except CorruptObject:
                return  # not a record header: the rest cannot be framed
            stored = f.read(stored_len)
            if len(stored) < stored_len:
                return
            entry = PackEntry(
                ObjectId(oid), ObjectType(kind), comp, offset + RECORD.size, stored_len, raw_len
            )
            offset += RECORD.size + stored_len
            try:
                raw = decompress(comp, stored, raw_len, kind)
            except CorruptObject:
                continue
            if object_id(entry.type, raw) == entry.id:
                yield entry, raw
