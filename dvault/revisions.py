"""Revision names: ``HEAD``, branches, tags, (abbreviated) ids, ``REV~N`` and ``REV^N``."""

from __future__ import annotations

import re
from typing import Protocol

from dvault.errors import UnknownRevision
from dvault.hashing import ObjectId, ObjectType
from dvault.objects import Commit, Object, Tag
from dvault.refs import HEADS, TAGS


class RefReader(Protocol):
    """What resolving a name asks of the refs: ``RefStore``, or a remote's ref log."""

    def head(self) -> tuple[str | None, ObjectId | None]: ...

    def read(self, ref: str) -> ObjectId | None: ...


class PrefixIndex(Protocol):
    def find_prefix(self, hex_prefix: str, limit: int = 2) -> list[ObjectId]: ...


class ObjectReader(Protocol):
    """What resolving a name asks of the objects: ``ObjectStore``, or a remote snapshot."""

    @property
    def index(self) -> PrefixIndex: ...

    def get_raw(self, oid: bytes) -> tuple[ObjectType, bytes]: ...

    def get(self, oid: bytes, expect: ObjectType | None = None) -> Object: ...


class Named(Protocol):
    """A repository to resolve names in: the ``Repository`` handle, or a remote snapshot."""

    @property
    def refs(self) -> RefReader: ...

    @property
    def store(self) -> ObjectReader: ...


_SUFFIX = re.compile(r"(~\d*|\^\d*)$")
_HEX = re.compile(r"[0-9a-f]{4,64}")


def resolve(repo: Named, text: str) -> ObjectId:
    """The commit named by ``text``; tags are peeled to the commit they name."""
    if not text:
        raise UnknownRevision("empty revision")
    match = _SUFFIX.search(text)
    if match and match.start() > 0:
        base = resolve(repo, text[: match.start()])
        op = match.group(1)
        count = int(op[1:]) if len(op) > 1 else 1
        if op[0] == "~":
            for _ in range(count):
                base = _parent(repo, base, 1, text)
            return base
        return base if count == 0 else _parent(repo, base, count, text)
    return peel(repo, _name(repo, text), text)


def _parent(repo: Named, oid: ObjectId, number: int, text: str) -> ObjectId:
    commit = repo.store.get(oid, ObjectType.COMMIT)
    assert isinstance(commit, Commit)
    if len(commit.parents) < number:
        raise UnknownRevision(f"revision {text!r} goes past the first commit")
    return commit.parents[number - 1]


def _name(repo: Named, text: str) -> ObjectId:
    if text in ("HEAD", "@"):
        _, head = repo.refs.head()
        if head is None:
            raise UnknownRevision("HEAD has no commits yet")
        return head
    candidates = (
        HEADS + text,
        TAGS + text,
        "refs/remotes/" + text,  # origin/main: where a remote's branch was last seen
        text if text.startswith("refs/") else None,
    )
    for ref in candidates:
        if ref is not None:
            found = repo.refs.read(ref)
            if found is not None:
                return found
    if _HEX.fullmatch(text):
        ids = repo.store.index.find_prefix(text)
        if len(ids) == 1:
            return ids[0]
        if len(ids) > 1:
            raise UnknownRevision(f"revision {text!r} is ambiguous; give more digits")
    raise UnknownRevision(f"unknown revision {text!r}")


def peel(repo: Named, oid: ObjectId, text: str) -> ObjectId:
    """Follow tags until a commit; anything else is not a revision."""
    for _ in range(16):
        kind, _raw = repo.store.get_raw(oid)
        if kind == ObjectType.COMMIT:
            return oid
        if kind != ObjectType.TAG:
            raise UnknownRevision(f"{text!r} names a {kind.name.lower()}, not a commit")
        tag = repo.store.get(oid, ObjectType.TAG)
        assert isinstance(tag, Tag)
        oid = tag.object
    raise UnknownRevision(f"{text!r}: too many nested tags")


__all__ = ["Named", "ObjectReader", "RefReader", "peel", "resolve"]
