"""Object ids: blake3-256 over a type-tagged header and the object's canonical bytes.

The header ``b"<type> <length>\\0"`` (as in git) domain-separates the object types, so a
blob can never have the id of a tree with the same bytes, and lets a reader in any
language recompute an id from the type and body alone. The object types and the object
format version live here, below the codecs (``objects``, ``treeobjects``,
``commitobjects``) that share them.
"""

from __future__ import annotations

import enum
from typing import NewType

from blake3 import blake3

ObjectId = NewType("ObjectId", bytes)
"""32 raw bytes. Shown to users as 64 lowercase hex digits, abbreviable to a unique prefix."""

ID_SIZE = 32

FORMAT_VERSION = 1
"""The version objects are written in: a chunk list's first byte and the ``version`` field
of a commit or tag (docs/format.md; each tree node kind has a version byte of its own)."""


class ObjectType(enum.IntEnum):
    """Object kinds; the integer is what packs and the index store."""

    BLOB = 1
    CHUNKS = 2
    TREE = 3
    COMMIT = 4
    TAG = 5

    @property
    def tag(self) -> bytes:
        return _TYPE_NAMES[self]


_TYPE_NAMES = {
    ObjectType.BLOB: b"blob",
    ObjectType.CHUNKS: b"chunks",
    ObjectType.TREE: b"tree",
    ObjectType.COMMIT: b"commit",
    ObjectType.TAG: b"tag",
}


def object_header(kind: ObjectType, length: int) -> bytes:
    """The bytes hashed before an object's body."""
    return _TYPE_NAMES[kind] + b" " + str(length).encode() + b"\0"


def object_id(kind: ObjectType, body: bytes | memoryview) -> ObjectId:
    """Id of an object of ``kind`` whose canonical bytes are ``body``."""
    h = blake3(object_header(kind, len(body)))
    h.update(body)
    return ObjectId(h.digest())


def to_hex(oid: bytes) -> str:
    return oid.hex()


def from_hex(text: str) -> ObjectId:
    """Parse a full 64-digit id; raises ValueError on anything else."""
    if len(text) != 2 * ID_SIZE:
        raise ValueError(f"object id must be {2 * ID_SIZE} hex digits: {text!r}")
    raw = bytes.fromhex(text)
    if len(raw) != ID_SIZE:  # fromhex skips whitespace: " 00…00 " would give 31 bytes
        raise ValueError(f"object id must be {2 * ID_SIZE} hex digits: {text!r}")
    return ObjectId(raw)


def short(oid: bytes, length: int = 12) -> str:
    return oid.hex()[:length]
