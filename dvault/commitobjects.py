"""Commit and tag objects, and the signatures they carry: canonical JSON.

Commits and tags are small, extensible with lineage metadata and readable with any tool,
so they are JSON; canonical means sorted keys, no whitespace, UTF-8, and a decoder
rejects any other spelling, so one object has exactly one encoding and one id
(docs/format.md, "commit" and "tag"). A signature covers the object's canonical JSON
without its ``signature`` field (docs/format.md, "Signatures"). Decoders never trust
their input: any malformed body raises :class:`~dvault.errors.CorruptObject`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from dvault.errors import CorruptObject
from dvault.hashing import FORMAT_VERSION, ObjectId, ObjectType, from_hex
from dvault.names import check_root, root_problem

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


__all__ = [
    "SIGNATURE_ALG",
    "SIGNATURE_CONTEXT",
    "Commit",
    "Signature",
    "Tag",
    "canonical_json",
    "signed_message",
]
