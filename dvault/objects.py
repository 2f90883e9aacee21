"""Parse and serialise every object type: blob, chunk list, tree, commit and tag.

This module is the only place that knows the byte layout of objects (docs/format.md is
its specification). Decoders never trust their input: any malformed body raises
:class:`~dvault.errors.CorruptObject` naming what is wrong.

Trees are binary (they are the bulk of metadata and are parsed on every checkout);
commits and tags are canonical JSON (small, extensible with lineage metadata, readable
with any tool). Canonical means sorted keys, no whitespace, UTF-8: a decoder rejects any
other spelling, so one object has exactly one encoding and one id.
"""

from __future__ import annotations

import json
import stat
import struct
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from blake3 import blake3

from dvault.errors import CorruptObject
from dvault.hashing import ID_SIZE, ObjectId, ObjectType, from_hex, object_id
from dvault.names import check_name, check_root, is_bad_name, root_problem

FORMAT_VERSION = 1

MODE_FILE = 0o100644
MODE_EXEC = 0o100755
MODE_DIR = 0o040000
MODE_LINK = 0o120000
VALID_MODES = frozenset({MODE_FILE, MODE_EXEC, MODE_DIR, MODE_LINK})

_ENTRY = struct.Struct(">IQ32sH")  # mode, size, id, name length; then the name bytes
_CHUNK_REF = struct.Struct(">32sI")  # chunk id, chunk length
_CHUNKS_HEAD = struct.Struct(">BQI")  # version, total size, chunk count


def mode_of(st_mode: int) -> int:
    """Map an ``os.stat`` mode to the four modes dvault records (like git)."""
    if stat.S_ISDIR(st_mode):
        return MODE_DIR
    if stat.S_ISLNK(st_mode):
        return MODE_LINK
    return MODE_EXEC if st_mode & 0o111 else MODE_FILE


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


# -- trees ------------------------------------------------------------------------------


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


# -- commits and tags -------------------------------------------------------------------

SIGNATURE_ALG = "ed25519"
SIGNATURE_CONTEXT = b"dvault signature v1\0"
"""Prefix of every signed message, so a dvault signature can never be replayed as a
signature over some other protocol's bytes (docs/format.md, "Signatures")."""


@dataclass(frozen=True, slots=True)
class Signature:
    """An ed25519 signature carried inside a commit or tag: the signer's public key and
    the 64 signature bytes over :func:`signed_message` of the object."""

    key: bytes
    sig: bytes
    alg: str = SIGNATURE_ALG

    def to_json(self) -> dict[str, str]:
        return {"alg": self.alg, "key": self.key.hex(), "sig": self.sig.hex()}

    @classmethod
    def from_json(cls, value: Any, what: str) -> Signature:
        def raw(text: Any, size: int) -> bytes:
            ok = isinstance(text, str) and len(text) == 2 * size
            if ok and all(c in "0123456789abcdef" for c in text):
                return bytes.fromhex(text)
            raise CorruptObject(f"{what} signature holds a malformed field")

        if not isinstance(value, dict) or set(value) != {"alg", "key", "sig"}:
            raise CorruptObject(f"{what} signature must hold exactly alg, key and sig")
        if value["alg"] != SIGNATURE_ALG:
            raise CorruptObject(f"{what} signature uses an unknown algorithm {value['alg']!r}")
        return cls(key=raw(value["key"], 32), sig=raw(value["sig"], 64))


def signed_message(kind: ObjectType, body: bytes) -> bytes:
    """The bytes a commit or tag signature covers: a fixed context, the type name, and
    the object's canonical JSON with its ``signature`` field removed (so signing adds
    the field without changing what was signed, and the object id covers both)."""
    value = _parse_canonical(body, kind.tag.decode())
    value.pop("signature", None)
    return SIGNATURE_CONTEXT + kind.tag + b"\0" + canonical_json(value)


def _signature_of(value: dict[str, Any], what: str) -> Signature | None:
    """None for an unsigned object (every object written before signing existed)."""
    return Signature.from_json(value["signature"], what) if "signature" in value else None


def canonical_json(value: dict[str, Any]) -> bytes:
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode()


def _parse_canonical(body: bytes, what: str) -> dict[str, Any]:
    try:
        value = json.loads(body)
    except (ValueError, RecursionError) as exc:  # RecursionError: deeply nested arrays
        raise CorruptObject(f"{what} is not valid JSON: {exc}") from None
    try:
        canonical = isinstance(value, dict) and canonical_json(value) == body
    except ValueError:  # a lone surrogate ("\ud800") parses but cannot be encoded as UTF-8
        canonical = False
    if not canonical:
        raise CorruptObject(f"{what} is not in canonical form")
    return value


def _field(value: dict[str, Any], key: str, kind: type, what: str) -> Any:
    item = value.get(key)
    if not isinstance(item, kind) or (isinstance(item, bool) and kind is int):
        raise CorruptObject(f"{what} field {key!r} is missing or not a {kind.__name__}")
    return item


def _hex_id(text: Any, what: str) -> ObjectId:
    try:
        oid = from_hex(text)
    except (TypeError, ValueError):
        raise CorruptObject(f"{what} holds an invalid object id {text!r}") from None
    if oid.hex() != text:  # uppercase hex would be a second spelling of the same object
        raise CorruptObject(f"{what} holds a non-canonical object id {text!r}")
    return oid


@dataclass(frozen=True, slots=True)
class Commit:
    """A snapshot: root tree, parents, who and when, why, and lineage metadata.

    ``roots`` maps each tracked root (a path relative to the project) to its kind
    (dataset, labels, checkpoint, ...). ``meta`` holds free-form lineage data.
    """

    tree: ObjectId
    parents: tuple[ObjectId, ...]
    author: str
    time_ns: int
    message: str
    roots: dict[str, str] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)
    signature: Signature | None = None

    def encode(self) -> bytes:
        for path, kind in self.roots.items():  # writers never store what readers refuse
            why = root_problem(path, kind) if isinstance(path, str) else "not a string"
            if why is not None:
                raise ValueError(f"invalid tracked root {path!r}: {why}")
        value: dict[str, Any] = {
            "author": self.author,
            "message": self.message,
            "meta": self.meta,
            "parents": [p.hex() for p in self.parents],
            "roots": self.roots,
            "time_ns": self.time_ns,
            "tree": self.tree.hex(),
            "version": FORMAT_VERSION,
        }
        if self.signature is not None:
            value["signature"] = self.signature.to_json()
        return canonical_json(value)

    @classmethod
    def decode(cls, body: bytes) -> Commit:
        v = _parse_canonical(body, "commit")
        if v.get("version") != FORMAT_VERSION or isinstance(v["version"], bool):  # true == 1
            raise CorruptObject("commit has an unknown version")
        parents = _field(v, "parents", list, "commit")
        roots = _field(v, "roots", dict, "commit")
        if not all(isinstance(k, str) and isinstance(x, str) for k, x in roots.items()):
            raise CorruptObject("commit roots must map paths to kinds")
        for path, kind in roots.items():
            check_root(path, kind)
        return cls(
            tree=_hex_id(v.get("tree"), "commit"),
            parents=tuple(_hex_id(p, "commit") for p in parents),
            author=_field(v, "author", str, "commit"),
            time_ns=_field(v, "time_ns", int, "commit"),
            message=_field(v, "message", str, "commit"),
            roots=roots,
            meta=_field(v, "meta", dict, "commit"),
            signature=_signature_of(v, "commit"),
        )


@dataclass(frozen=True, slots=True)
class Tag:
    """An annotated, immutable name for an object (usually a commit)."""

    object: ObjectId
    object_type: str
    name: str
    tagger: str
    time_ns: int
    message: str
    signature: Signature | None = None

    def encode(self) -> bytes:
        value: dict[str, Any] = {
            "message": self.message,
            "name": self.name,
            "object": self.object.hex(),
            "tagger": self.tagger,
            "time_ns": self.time_ns,
            "type": self.object_type,
            "version": FORMAT_VERSION,
        }
        if self.signature is not None:
            value["signature"] = self.signature.to_json()
        return canonical_json(value)

    @classmethod
    def decode(cls, body: bytes) -> Tag:
        v = _parse_canonical(body, "tag")
        if v.get("version") != FORMAT_VERSION or isinstance(v["version"], bool):  # true == 1
            raise CorruptObject("tag has an unknown version")
        object_type = _field(v, "type", str, "tag")
        if object_type not in ("commit", "tree", "blob", "tag"):
            raise CorruptObject(f"tag points at an unknown type {object_type!r}")
        return cls(
            object=_hex_id(v.get("object"), "tag"),
            object_type=object_type,
            name=_field(v, "name", str, "tag"),
            tagger=_field(v, "tagger", str, "tag"),
            time_ns=_field(v, "time_ns", int, "tag"),
            message=_field(v, "message", str, "tag"),
            signature=_signature_of(v, "tag"),
        )


Object = ChunkList | Tree | TreeShard | TreeFanout | Commit | Tag

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
    "ID_SIZE",
    "MAX_SHARD_DEPTH",
    "MODE_DIR",
    "MODE_EXEC",
    "MODE_FILE",
    "MODE_LINK",
    "ChunkList",
    "Commit",
    "Object",
    "ShardRef",
    "Signature",
    "Tag",
    "Tree",
    "TreeEntry",
    "TreeFanout",
    "TreeNode",
    "TreeShard",
    "chunk_refs",
    "decode",
    "decode_tree",
    "encode",
    "mode_of",
    "shard_key",
    "signed_message",
]
