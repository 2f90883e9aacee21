"""Tree objects: the binary encoding of directories, whole or sharded.

A tree object body starts with a version byte saying which node kind it is: a plain tree
(a whole directory), a fan-out node or a shard leaf of a large directory split by the hex
digits of blake3(name) (docs/format.md, "Trees"). This module parses and serialises the
three node kinds and their entries, and defines the four entry modes; reading trees from
a store, building, diffing and merging them is ``dvault/trees/``, which works on these
types. Trees are binary because they are the bulk of metadata and are parsed on every
checkout. Decoders never trust their input: any malformed body raises
:class:`~dvault.errors.CorruptObject`; encoders refuse what decoders refuse.
"""

from __future__ import annotations

import stat
import struct
from dataclasses import dataclass, field

from blake3 import blake3

from dvault.errors import CorruptObject
from dvault.hashing import ObjectId
from dvault.names import check_name, is_bad_name

MODE_FILE = 0o100644
MODE_EXEC = 0o100755
MODE_DIR = 0o040000
MODE_LINK = 0o120000
VALID_MODES = frozenset({MODE_FILE, MODE_EXEC, MODE_DIR, MODE_LINK})

_ENTRY = struct.Struct(">IQ32sH")  # mode, size, id, name length; then the name bytes


def mode_of(st_mode: int) -> int:
    """Map an ``os.stat`` mode to the four modes dvault records (like git)."""
    if stat.S_ISDIR(st_mode):
        return MODE_DIR
    if stat.S_ISLNK(st_mode):
        return MODE_LINK
    return MODE_EXEC if st_mode & 0o111 else MODE_FILE


@dataclass(frozen=True, slots=True)
class TreeEntry:
    """One name in a directory. ``size`` of a directory is the bytes of all files under it."""

    name: bytes
    mode: int
    size: int
    id: ObjectId

    @property
    def is_dir(self) -> bool:
        return self.mode == MODE_DIR

    @property
    def is_link(self) -> bool:
        return self.mode == MODE_LINK


# Large directories are split into shards by the hex digits of blake3(name): see
# docs/format.md, "Trees". A tree object body starts with its version byte, which says
# which of the three node kinds it is.
TREE_PLAIN = 1
"""A whole directory in one object (every directory of at most SHARD_ENTRIES entries)."""
TREE_FANOUT = 2
"""A fan-out node: up to 16 children, one per next hex digit of blake3(name)."""
TREE_SHARD = 3
"""A shard leaf: the entries of a large directory whose name hashes share a prefix."""

MAX_SHARD_DEPTH = 8
"""Fan-out nodes sit at depths 0..7, shard leaves at 1..8: nesting is bounded, whatever a
(hostile) tree says, and a leaf at depth 8 holds whatever names share 8 hex digits."""

_HEX_DIGITS = b"0123456789abcdef"
_SHARD_REF = struct.Struct(">BIQ32s")  # bucket, entry count, size, child id


def shard_key(name: bytes) -> bytes:
    """The name's position in a sharded directory: the first MAX_SHARD_DEPTH lowercase hex
    digits (ASCII) of blake3(name), as deep as any prefix goes; a node at depth d holds
    the names whose key starts with its d-digit prefix. (A shorter blake3 output is a
    prefix of the longer one, so 4 output bytes are the first 8 digits of the digest.)"""
    return blake3(name).digest(MAX_SHARD_DEPTH // 2).hex().encode()


def _encode_entries(parts: list[bytes], entries: tuple[TreeEntry, ...]) -> None:
    """Writers never store what readers refuse: a name :func:`check_name` would refuse
    on decode is refused here (ValueError: only a bug, or a forgery, gets this far)."""
    previous = None
    names = []
    for e in entries:
        name = e.name
        if previous is not None and name <= previous:
            raise ValueError("tree entries must be sorted and unique")
        previous = name
        names.append(name)
        parts.append(_ENTRY.pack(e.mode, e.size, e.id, len(name)))
        parts.append(name)
    # all names at once, in C: a check per name in this loop tripled its cost
    joined = b"".join(names)
    if b"/" in joined or b"\0" in joined or not all(names) or b"." in names or b".." in names:
        bad = next(n for n in names if is_bad_name(n))
        raise ValueError(f"invalid tree entry name {bad!r}")


def _decode_entries(body: bytes, pos: int) -> tuple[TreeEntry, ...]:
    entries = []
    names = []
    end, previous = len(body), b""
    unpack, header = _ENTRY.unpack_from, _ENTRY.size
    while pos < end:
        if pos + header > end:
            raise CorruptObject("tree entry truncated")
        mode, size, oid, name_len = unpack(body, pos)
        pos += header
        name = body[pos : pos + name_len]
        pos += name_len
        if len(name) != name_len:
            raise CorruptObject("tree entry name truncated")
        if mode not in VALID_MODES:
            raise CorruptObject(f"tree entry {name!r} has invalid mode {mode:o}")
        if name <= previous and name:  # an empty name is refused below, as invalid
            raise CorruptObject("tree entries are not sorted and unique")
        previous = name
        names.append(name)
        entries.append(TreeEntry(name, mode, size, ObjectId(oid)))
    # every name at once, in C, as _encode_entries does: a check per name was a fifth
    # of the cost of decoding a tree (verify and push walk every tree of a snapshot)
    joined = b"".join(names)
    if b"/" in joined or b"\0" in joined or not all(names) or b"." in names or b".." in names:
        check_name(next(n for n in names if is_bad_name(n)))
    return tuple(entries)


def _decode_prefix(body: bytes, what: str, lowest: int, highest: int) -> bytes:
    """The depth byte and hex-digit prefix that open fan-out and shard bodies."""
    if len(body) < 2:
        raise CorruptObject(f"{what} too short")
    depth = body[1]
    if not lowest <= depth <= highest:
        raise CorruptObject(f"{what} has depth {depth}, outside {lowest}..{highest}")
    prefix = body[2 : 2 + depth]
    if len(prefix) != depth or any(c not in _HEX_DIGITS for c in prefix):
        raise CorruptObject(f"{what} prefix is not {depth} lowercase hex digits")
    return prefix


@dataclass(frozen=True, slots=True)
class Tree:
    """A directory: entries sorted by name bytes, names unique."""

    entries: tuple[TreeEntry, ...] = field(default_factory=tuple)

    @classmethod
    def build(cls, entries: list[TreeEntry]) -> Tree:
        return cls(tuple(sorted(entries, key=lambda e: e.name)))

    @property
    def size(self) -> int:
        return sum(e.size for e in self.entries)

    def encode(self) -> bytes:
        parts = [bytes([TREE_PLAIN])]
        _encode_entries(parts, self.entries)
        return b"".join(parts)

    @classmethod
    def decode(cls, body: bytes) -> Tree:
        if not body or body[0] != TREE_PLAIN:
            raise CorruptObject("tree has an unknown version")
        return cls(_decode_entries(body, 1))


@dataclass(frozen=True, slots=True)
class TreeShard:
    """A leaf of a sharded directory: the entries whose :func:`shard_key` starts with
    ``prefix`` (1 to MAX_SHARD_DEPTH hex digits). Never empty, never a directory itself."""

    prefix: bytes
    entries: tuple[TreeEntry, ...]

    @property
    def size(self) -> int:
        return sum(e.size for e in self.entries)

    def encode(self) -> bytes:
        parts = [bytes([TREE_SHARD, len(self.prefix)]), self.prefix]
        _encode_entries(parts, self.entries)
        return b"".join(parts)

    @classmethod
    def decode(cls, body: bytes) -> TreeShard:
        if not body or body[0] != TREE_SHARD:
            raise CorruptObject("tree shard has an unknown version")
        prefix = _decode_prefix(body, "tree shard", 1, MAX_SHARD_DEPTH)
        entries = _decode_entries(body, 2 + len(prefix))
        if not entries:
            raise CorruptObject("tree shard is empty")
        for e in entries:
            if not shard_key(e.name).startswith(prefix):
                raise CorruptObject(f"tree shard {prefix.decode()} holds a foreign name {e.name!r}")
        return cls(prefix, entries)


@dataclass(frozen=True, slots=True)
class ShardRef:
    """A fan-out node's child: the next hex digit of the keys under it, how many entries
    it holds and their total size (so a change re-shapes a directory without reading
    every shard), and its id (a fan-out node one level down, or a shard leaf)."""

    bucket: int
    count: int
    size: int
    id: ObjectId


@dataclass(frozen=True, slots=True)
class TreeFanout:
    """An inner node of a sharded directory at depth ``len(prefix)``; at depth 0 it *is*
    the directory (its id is what the parent entry or the commit names)."""

    prefix: bytes
    children: tuple[ShardRef, ...]

    @property
    def size(self) -> int:
        return sum(c.size for c in self.children)

    @property
    def count(self) -> int:
        return sum(c.count for c in self.children)

    def encode(self) -> bytes:
        parts = [bytes([TREE_FANOUT, len(self.prefix)]), self.prefix]
        previous = -1
        for c in self.children:
            if not previous < c.bucket < 16 or c.count < 1:
                raise ValueError("fan-out children must be sorted, unique and non-empty")
            previous = c.bucket
            parts.append(_SHARD_REF.pack(c.bucket, c.count, c.size, c.id))
        return b"".join(parts)

    @classmethod
    def decode(cls, body: bytes) -> TreeFanout:
        if not body or body[0] != TREE_FANOUT:
            raise CorruptObject("tree fan-out has an unknown version")
        prefix = _decode_prefix(body, "tree fan-out", 0, MAX_SHARD_DEPTH - 1)
        start = 2 + len(prefix)
        if (len(body) - start) % _SHARD_REF.size or len(body) == start:
            raise CorruptObject("tree fan-out children are truncated or missing")
        children = []
        previous = -1
        for bucket, count, size, oid in _SHARD_REF.iter_unpack(memoryview(body)[start:]):
            if not previous < bucket < 16:
                raise CorruptObject("tree fan-out buckets are not sorted, unique and 0..15")
            if count < 1:
                raise CorruptObject("tree fan-out has an empty child")
            previous = bucket
            children.append(ShardRef(bucket, count, size, ObjectId(bytes(oid))))
        return cls(prefix, tuple(children))


TreeNode = Tree | TreeShard | TreeFanout
"""What a tree object body decodes to (its version byte says which)."""


def decode_tree(body: bytes) -> TreeNode:
    """Parse any tree object: a plain tree, a fan-out node or a shard leaf."""
    version = body[0] if body else None
    if version == TREE_FANOUT:
        return TreeFanout.decode(body)
    if version == TREE_SHARD:
        return TreeShard.decode(body)
    return Tree.decode(body)


__all__ = [
    "MAX_SHARD_DEPTH",
    "MODE_DIR",
    "MODE_EXEC",
    "MODE_FILE",
    "MODE_LINK",
    "TREE_FANOUT",
    "TREE_PLAIN",
    "TREE_SHARD",
    "VALID_MODES",
    "ShardRef",
    "Tree",
    "TreeEntry",
    "TreeFanout",
    "TreeNode",
    "TreeShard",
    "decode_tree",
    "mode_of",
    "shard_key",
]
