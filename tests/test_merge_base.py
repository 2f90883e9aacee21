"""The merge base of two commits: the best common ancestor, by a bounded walk."""

from __future__ import annotations

import pytest

from dvault.commitobjects import Commit
from dvault.errors import CheckFailed
from dvault.hashing import ObjectId, ObjectType, object_id
from dvault.objects import Object
from dvault.revisions import merge_base
from dvault.trees import EMPTY_TREE


class Commits:
    """An in-memory commit store that counts reads."""

    def __init__(self) -> None:
        self.objects: dict[bytes, Commit] = {}
        self.reads = 0

    def add(self, name: str, *parents: ObjectId, time_ns: int = 0) -> ObjectId:
        c = Commit(EMPTY_TREE, tuple(parents), "t", time_ns, name)
        oid = object_id(ObjectType.COMMIT, c.encode())
        self.objects[oid] = c
        return oid

    def get(self, oid: bytes, expect: ObjectType | None = None) -> Object:
        self.reads += 1
        return self.objects[oid]


def test_linear_history_base_is_the_older_commit() -> None:
    """On one line of history the base is the ancestor itself (a fast-forward)."""
    s = Commits()
    a = s.add("a")
    b = s.add("b", a)
    c = s.add("c", b)
    assert merge_base(s, a, c) == a
    assert merge_base(s, c, a) == a
    assert merge_base(s, c, c) == c


def test_diverged_branches_meet_at_the_fork() -> None:
    """Two branches forked from ``fork`` have it as their base, however long they are."""
    s = Commits()
    root = s.add("root")
    fork = s.add("fork", root)
    ours = s.add("o1", fork)
    theirs = s.add("t2", s.add("t1", fork))
    assert merge_base(s, ours, theirs) == fork
    assert merge_base(s, theirs, ours) == fork


def test_after_a_merge_the_base_moves_up() -> None:
    """Once theirs was merged into ours, the next merge's base is theirs' merged tip."""
    s = Commits()
    fork = s.add("fork")
    t1 = s.add("t1", fork)
    o1 = s.add("o1", fork)
    m = s.add("merge", o1, t1)
    t2 = s.add("t2", t1)
    assert merge_base(s, m, t2) == t1


def test_criss_cross_picks_one_deterministically() -> None:
    """Criss-cross: two best common ancestors; the later one (then the smaller id) wins,
    whichever side asks."""
    s = Commits()
    fork = s.add("fork")
    x = s.add("x", fork, time_ns=10)
    y = s.add("y", fork, time_ns=20)
    ours = s.add("ours", x, y)
    theirs = s.add("theirs", y, x)
    assert merge_base(s, ours, theirs) == y
    assert merge_base(s, theirs, ours) == y
    # equal times: the smaller id
    x2 = s.add("x2", fork, time_ns=5)
    y2 = s.add("y2", fork, time_ns=5)
    a, b = s.add("a", x2, y2), s.add("b", y2, x2)
    assert merge_base(s, a, b) == min(x2, y2)


def test_an_ancestor_of_another_candidate_is_not_best() -> None:
    """A common ancestor reached from ``b`` by a side path, but behind a better one, loses."""
    s = Commits()
    old = s.add("old", time_ns=100)  # newer clock, older in history: time must not win
    mid = s.add("mid", old, time_ns=1)
    a = s.add("a", mid)
    b = s.add("b", mid, old)
    assert merge_base(s, a, b) == mid


def test_unrelated_histories_have_no_base() -> None:
    s = Commits()
    assert merge_base(s, s.add("one"), s.add("two")) is None


def test_walk_is_bounded() -> None:
    """A (forged) history longer than the cap is refused, not walked for ever."""
    s = Commits()
    tip = s.add("0")
    for i in range(1, 50):
        tip = s.add(str(i), tip)
    other = s.add("other")
    with pytest.raises(CheckFailed, match="history too long"):
        merge_base(s, tip, other, limit=20)
    assert s.reads <= 20
