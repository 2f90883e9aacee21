"""Revision names: ``HEAD``, branches, tags, (abbreviated) ids, ``REV~N`` and ``REV^N``;
and the merge base of two commits (their best common ancestor)."""

from __future__ import annotations

import re
from collections import deque
from typing import Protocol

from dvault.commitobjects import Commit, Tag
from dvault.errors import CheckFailed, UnknownRevision
from dvault.hashing import ObjectId, ObjectType
from dvault.objects import Object
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


MERGE_BASE_WALK = 1_000_000
"""Most commits :func:`merge_base` reads in one walk. Commits may come from a remote, so
a history is attacker input: a forged chain of millions of commits is refused instead of
walked for ever (a real history this long would need a smarter walk, not a bigger cap)."""


class CommitReader(Protocol):
    """What walking history asks of the objects: a commit by id (``ObjectStore``)."""

    def get(self, oid: bytes, expect: ObjectType | None = None) -> Object: ...


class _Walk:
    """Parents of commits, read once each and counted against one shared budget."""

    def __init__(self, store: CommitReader, limit: int) -> None:
        self.store, self.left, self.limit = store, limit, limit
        self.commits: dict[bytes, Commit] = {}

    def commit(self, oid: bytes) -> Commit:
        found = self.commits.get(oid)
        if found is None:
            if self.left <= 0:
                raise CheckFailed(
                    "history too long to find a merge base "
                    f"(more than {self.limit} commits read); is it damaged or forged?"
                )
            self.left -= 1
            got = self.store.get(oid, ObjectType.COMMIT)
            assert isinstance(got, Commit)
            found = self.commits[oid] = got
        return found

    def ancestors(self, starts: list[bytes]) -> set[bytes]:
        """``starts`` and every commit before them, breadth first."""
        seen = set(starts)
        queue = deque(starts)
        while queue:
            for parent in self.commit(queue.popleft()).parents:
                if parent not in seen:
                    seen.add(parent)
                    queue.append(parent)
        return seen


def merge_base(
    store: CommitReader, a: bytes, b: bytes, limit: int = MERGE_BASE_WALK
) -> ObjectId | None:
    """The best common ancestor of commits ``a`` and ``b``, or None when they share no
    history. Best means no other common ancestor descends from it.

    Breadth-first and iterative (never recursive): every ancestor of ``a``; then the
    walk back from ``b``, stopping at the first commits ``a`` also reaches (the
    candidates); then one walk from the candidates' parents drops those behind another.
    A criss-cross history leaves several best candidates: the one committed last is
    taken, and of equal times the smallest id, so the answer never depends on the
    walk's order. At most ``limit`` commits are read in all (:data:`MERGE_BASE_WALK`)."""
    if a == b:
        return ObjectId(bytes(a))
    walk = _Walk(store, limit)
    of_a = walk.ancestors([a])
    if b in of_a:
        return ObjectId(bytes(b))
    candidates: set[bytes] = set()
    seen = {b}
    queue = deque([b])
    while queue:
        oid = queue.popleft()
        if oid in of_a:
            candidates.add(oid)
            continue
        for parent in walk.commit(oid).parents:
            if parent not in seen:
                seen.add(parent)
                queue.append(parent)
    if not candidates:
        return None
    # one walk from the candidates' parents: a candidate it reaches is behind another
    behind = walk.ancestors(sorted({p for c in candidates for p in walk.commit(c).parents}))
    best = candidates - behind
    chosen = min(best, key=lambda c: (-walk.commit(c).time_ns, c))
    return ObjectId(bytes(chosen))


__all__ = ["CommitReader", "Named", "ObjectReader", "RefReader", "merge_base", "peel", "resolve"]
