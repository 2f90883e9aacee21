"""The object model's entry point: chunk lists, and the decode/encode of every object type.

An object is a blob (raw bytes, never parsed), a chunk list (a large file's chunks, here),
a tree node (``dvault/treeobjects.py``: binary, the bulk of metadata) or a commit or tag
(``dvault/commitobjects.py``: canonical JSON). :func:`decode` and :func:`encode` dispatch
on the object type, so a reader holding a type byte and a body needs only this module.
Together these three modules are the only place that knows the byte layout of objects
(docs/format.md is their specification). Decoders never trust their input: any malformed
body raises :class:`~dvault.errors.CorruptObject` naming what is wrong.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from dvault.commitobjects import Commit, Tag
from dvault.errors import CorruptObject
from dvault.hashing import FORMAT_VERSION, ObjectId, ObjectType, object_id
from dvault.treeobjects import Tree, TreeFanout, TreeShard, decode_tree

_CHUNK_REF = struct.Struct(">32sI")  # chunk id, chunk length
_CHUNKS_HEAD = struct.Struct(">BQI")  # version, total size, chunk count


# -- chunk lists ------------------------------------------------------------------------


def chunk_refs(body: bytes) -> tuple[int, Iterator[tuple[ObjectId, int]]]:
    """A chunk list's total size, and its (chunk id, length) pairs as a lazy stream.

    The header is checked at once (version, and a body exactly as long as its count
    says); each pair is made only when asked for, and the stream raises CorruptObject as
    soon as the lengths pass the total, or at its end if they fall short. A chunk list
    repeating one chunk compresses ~30,000:1, so a small pack can hold a 1 GiB list of 30
    million pairs: as a tuple that is ~5 GiB of Python objects, as a stream nothing."""
    if len(body) < _CHUNKS_HEAD.size:
        raise CorruptObject("chunk list too short")
    version, total, count = _CHUNKS_HEAD.unpack_from(body)
    if version != FORMAT_VERSION:
        raise CorruptObject(f"chunk list has unknown version {version}")
    if len(body) != _CHUNKS_HEAD.size + count * _CHUNK_REF.size:
        raise CorruptObject("chunk list length does not match its count")

    def pairs() -> Iterator[tuple[ObjectId, int]]:
        seen = 0
        for cid, length in _CHUNK_REF.iter_unpack(memoryview(body)[_CHUNKS_HEAD.size :]):
            seen += length
            if seen > total:
                raise CorruptObject("chunk list sizes add up to more than its total")
            yield ObjectId(cid), length
        if seen != total:
            raise CorruptObject("chunk list sizes do not add up to its total")

    return total, pairs()


@dataclass(frozen=True, slots=True)
class ChunkList:
    """A large file's content: the concatenation of the listed blobs. Readers of content
    that may come from a remote stream it with :func:`chunk_refs` instead of decoding
    the whole list."""

    chunks: tuple[tuple[ObjectId, int], ...]

    @property
    def size(self) -> int:
        return sum(length for _, length in self.chunks)

    def encode(self) -> bytes:
        parts = [_CHUNKS_HEAD.pack(FORMAT_VERSION, self.size, len(self.chunks))]
        parts.extend(_CHUNK_REF.pack(cid, length) for cid, length in self.chunks)
        return b"".join(parts)

    @classmethod
    def decode(cls, body: bytes) -> ChunkList:
        _, pairs = chunk_refs(body)
        return cls(tuple(pairs))


# -- every object type ------------------------------------------------------------------

Object = ChunkList | Tree | TreeShard | TreeFanout | Commit | Tag
"""What a non-blob object body decodes to (its type byte says which)."""

_DECODERS: dict[ObjectType, Callable[[bytes], Object]] = {
    ObjectType.CHUNKS: ChunkList.decode,
    ObjectType.TREE: decode_tree,
    ObjectType.COMMIT: Commit.decode,
    ObjectType.TAG: Tag.decode,
}

_TYPES: dict[type, ObjectType] = {
    ChunkList: ObjectType.CHUNKS,
    Tree: ObjectType.TREE,
    TreeShard: ObjectType.TREE,
    TreeFanout: ObjectType.TREE,
    Commit: ObjectType.COMMIT,
    Tag: ObjectType.TAG,
}


def type_of(obj: Object) -> ObjectType:
    return _TYPES[type(obj)]  # the type byte an object is stored and hashed under


def decode(kind: ObjectType, body: bytes) -> Object:
    """Parse a non-blob object body (blobs are raw bytes and need no parsing)."""
    try:
        decoder = _DECODERS[kind]
    except KeyError:
        raise CorruptObject(f"cannot decode an object of type {kind!r}") from None
    return decoder(body)


def decode_expected(oid: bytes, kind: ObjectType, body: bytes, expect: ObjectType | None) -> Object:
    """:func:`decode`, after checking that object ``oid`` is of the ``expect``ed type (a
    tree id where a commit belongs is damage, not a parse error)."""
    if expect is not None and kind != expect:
        raise CorruptObject(
            f"object {oid.hex()} is a {kind.name.lower()}, expected a {expect.name.lower()}"
        )
    return decode(kind, body)


def encode(obj: Object) -> tuple[ObjectType, bytes, ObjectId]:
    """Serialise ``obj``: its type, canonical bytes and id."""
    kind = type_of(obj)
    body = obj.encode()
    return kind, body, object_id(kind, body)


__all__ = [
    "ChunkList",
    "Object",
    "chunk_refs",
    "decode",
    "decode_expected",
    "encode",
    "type_of",
]
