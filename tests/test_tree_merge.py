"""Three-way merge of trees: one-sided changes taken, equal subtrees never read,
conflicts named with their kind."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from dvault.hashing import ObjectId, ObjectType, object_id
from dvault.objects import Object
from dvault.treeobjects import MODE_FILE, TreeEntry, decode_tree
from dvault.trees import build_from_stage, flatten, lookup
from dvault.trees.build import Built
from dvault.trees.merge import (
    ADD_ADD,
    BOTH_MODIFIED,
    FILE_DIRECTORY,
    MODIFY_DELETE,
    merge_trees,
)


@dataclass(frozen=True)
class Leaf:
    mode: int
    size: int
    id: ObjectId


def leaf(text: str) -> Leaf:
    return Leaf(MODE_FILE, len(text), object_id(ObjectType.BLOB, text.encode()))


class Trees:
    """An in-memory tree store that records which objects were read."""

    def __init__(self) -> None:
        self.bodies: dict[bytes, bytes] = {}
        self.reads: list[bytes] = []

    def put(self, objects: Built) -> None:
        self.bodies.update(objects)

    def tree(self, files: dict[str, str], threshold: int | None = None) -> ObjectId:
        stage = {p.encode(): leaf(t) for p, t in files.items()}
        root, objects = build_from_stage(stage, threshold)
        self.put(objects)
        return root

    def get(self, oid: bytes, expect: ObjectType | None = None) -> Object:
        self.reads.append(oid)
        return decode_tree(self.bodies[oid])

    def files(self, tree: bytes) -> dict[str, ObjectId]:
        return {p.decode(): e.id for p, e in flatten(self, tree).items()}


def ids(files: dict[str, str]) -> dict[str, ObjectId]:
    return {p: leaf(t).id for p, t in files.items()}


BASE = {"labels/a.csv": "a", "labels/b.csv": "b", "images/1.png": "1", "images/2.png": "2"}


def test_one_sided_changes_on_both_sides_combine() -> None:
    """Ours relabels, theirs adds and deletes images: the merge holds both."""
    s = Trees()
    base = s.tree(BASE)
    ours = s.tree({**BASE, "labels/a.csv": "A"})
    theirs_files = {k: v for k, v in BASE.items() if k != "images/2.png"}
    theirs = s.tree({**theirs_files, "images/3.png": "3"})
    m = merge_trees(s, base, ours, theirs)
    s.put(m.objects)
    assert not m.conflicts
    want = {k: v for k, v in BASE.items() if k != "images/2.png"}
    assert s.files(m.tree) == ids({**want, "labels/a.csv": "A", "images/3.png": "3"})
    # the tree is canonical: the same as building the merged stage from scratch
    assert m.tree == s.tree({**want, "labels/a.csv": "A", "images/3.png": "3"})


def test_trivial_cases_read_nothing() -> None:
    """Fast paths: equal sides, or one side equal to the base, read no object."""
    s = Trees()
    base, other = s.tree(BASE), s.tree({**BASE, "x": "x"})
    s.reads.clear()
    assert merge_trees(s, base, other, other).tree == other
    assert merge_trees(s, base, base, other).tree == other
    assert merge_trees(s, base, other, base).tree == other
    assert s.reads == []


def test_identical_change_on_both_sides_is_taken_once() -> None:
    s = Trees()
    base = s.tree(BASE)
    ours = s.tree({**BASE, "labels/a.csv": "same", "images/9.png": "9"})
    theirs = s.tree({**BASE, "labels/a.csv": "same", "labels/c.csv": "c"})
    m = merge_trees(s, base, ours, theirs)
    s.put(m.objects)
    assert not m.conflicts
    assert s.files(m.tree) == ids(
        {**BASE, "labels/a.csv": "same", "images/9.png": "9", "labels/c.csv": "c"}
    )


def test_conflict_kinds() -> None:
    """Both modified, add/add, modify/delete and file/directory are each reported."""
    s = Trees()
    base = s.tree({**BASE, "gone.txt": "g", "d/f": "f"})
    # ours: images/1.png became a directory, d/f modified, gone.txt deleted
    ours = s.tree(
        {k: v for k, v in BASE.items() if k != "images/1.png"}
        | {"labels/a.csv": "ours", "new.txt": "o", "d/f": "f2", "images/1.png/x": "x"}
    )
    theirs_files = {**BASE, "labels/a.csv": "theirs", "new.txt": "t", "gone.txt": "g2"}
    theirs_files["images/1.png"] = "9"
    theirs = s.tree(theirs_files)  # and d/ deleted
    m = merge_trees(s, base, ours, theirs)
    kinds = {c.path.decode(): c.kind for c in m.conflicts}
    assert kinds == {
        "d": MODIFY_DELETE,
        "gone.txt": MODIFY_DELETE,
        "images/1.png": FILE_DIRECTORY,
        "labels/a.csv": BOTH_MODIFIED,
        "new.txt": ADD_ADD,
    }
    assert [c.path for c in m.conflicts] == sorted(c.path for c in m.conflicts)


def test_file_merger_resolves_a_both_modified_file() -> None:
    """A both-modified file goes to the merger; what it returns is taken."""
    s = Trees()
    base = s.tree(BASE)
    ours = s.tree({**BASE, "labels/a.csv": "ours"})
    theirs = s.tree({**BASE, "labels/a.csv": "theirs"})
    merged = leaf("merged")
    asked: list[bytes] = []

    def merger(path: bytes, b: TreeEntry, o: TreeEntry, t: TreeEntry) -> TreeEntry | None:
        asked.append(path)
        return TreeEntry(b"", merged.mode, merged.size, merged.id)

    m = merge_trees(s, base, ours, theirs, merger)
    s.put(m.objects)
    assert asked == [b"labels/a.csv"] and m.merged_files == [b"labels/a.csv"]
    assert not m.conflicts
    assert s.files(m.tree)["labels/a.csv"] == merged.id


@pytest.mark.parametrize("threshold", [None, 8])
def test_equal_subtrees_are_not_read(threshold: int | None) -> None:
    """200 directories of 20 files (sharded at 8 entries per node, or not), one directory
    changed on each side: the merge reads a handful of tree objects, none of the
    unchanged directories."""
    s = Trees()
    files = {f"d{i:03}/f{j:02}": f"{i}-{j}" for i in range(200) for j in range(20)}
    base = s.tree(files, threshold)
    ours = s.tree({**files, "d007/f03": "ours"}, threshold)
    theirs = s.tree({**files, "d150/new": "theirs"}, threshold)
    entries = [lookup(s, base, f"d{i:03}".encode()) for i in range(200) if i not in (7, 150)]
    untouched = {e.id for e in entries if e is not None}
    s.reads.clear()
    m = merge_trees(s, base, ours, theirs, threshold=threshold)
    assert not m.conflicts
    assert not untouched & set(s.reads)
    assert len(s.reads) < 60, len(s.reads)
    s.put(m.objects)
    merged = {**files, "d007/f03": "ours", "d150/new": "theirs"}
    assert s.files(m.tree) == ids(merged)
    assert m.tree == s.tree(merged, threshold)
