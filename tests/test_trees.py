"""Merkle trees: built from the stage, flattened back exactly, and diffed by subtree."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dvault.hashing import ObjectId, ObjectType, object_id
from dvault.objects import Object
from dvault.store.objectstore import ObjectStore
from dvault.store.state import StageEntry
from dvault.treeobjects import MODE_DIR, MODE_EXEC, MODE_FILE, MODE_LINK
from dvault.trees import (
    EMPTY_TREE,
    Change,
    build_from_stage,
    diff_entries,
    diff_trees,
    flatten,
    lookup,
)

Stage = dict[bytes, StageEntry]


def make_store_dir(root: Path) -> Path:
    """Lay out ``root`` for an ObjectStore (as Repo.init does)."""
    for sub in ("packs", "tmp"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    return root


class CountingStore(ObjectStore):
    """An ObjectStore that records which objects were read through get()."""

    def __init__(self, root: Path) -> None:
        super().__init__(root)
        self.reads: list[bytes] = []

    def get(self, oid: bytes, expect: ObjectType | None = None) -> Object:
        self.reads.append(oid)
        return super().get(oid, expect)


@pytest.fixture
def cstore(tmp_path: Path) -> Iterator[CountingStore]:
    s = CountingStore(make_store_dir(tmp_path / "cstore"))
    try:
        yield s
    finally:
        s.close()


def blob(text: str) -> ObjectId:
    return object_id(ObjectType.BLOB, text.encode())


def file(text: str, mode: int = MODE_FILE) -> StageEntry:
    return StageEntry(mode, len(text), blob(text))


def empty_dir() -> StageEntry:
    return StageEntry(MODE_DIR, 0, EMPTY_TREE)


def write(store: ObjectStore, stage: Stage) -> ObjectId:
    """Build the trees of ``stage`` and store them, as commit does; returns the root id."""
    root, trees = build_from_stage(stage)
    with store.writer() as w:
        for oid, body in trees:
            assert w.put_raw(ObjectType.TREE, body) == oid
    return root


def leaves(store: ObjectStore, root: bytes) -> dict[bytes, tuple[int, int, bytes]]:
    return {p: (e.mode, e.size, e.id) for p, e in flatten(store, root).items()}


def as_leaves(stage: Stage) -> dict[bytes, tuple[int, int, bytes]]:
    return {p: (e.mode, e.size, e.id) for p, e in stage.items()}


def changes(store: ObjectStore, a: bytes | None, b: bytes | None) -> dict[bytes, str]:
    found = list(diff_trees(store, a, b))
    result = {c.path: c.status for c in found}
    assert len(result) == len(found), "a path was reported twice"
    return result


DATASET: Stage = {
    b"data/train/cat/001.png": file("cat1"),
    b"data/train/cat/002.png": file("cat2"),
    b"data/train/dog/001.png": file("dog1"),
    b"data/train/empty_class": empty_dir(),
    b"data/labels.csv": file("labels"),
    b"scripts/prepare.sh": file("#!/bin/sh", MODE_EXEC),
    b"latest": StageEntry(MODE_LINK, 4, blob("data")),
    b"README": file("readme"),
}


def test_build_and_flatten_round_trip(store: ObjectStore) -> None:
    """Flattening the built tree gives back exactly the stage (modes, sizes, ids)."""
    root = write(store, DATASET)
    assert leaves(store, root) == as_leaves(DATASET)


def test_directory_sizes_and_shared_subtrees(store: ObjectStore) -> None:
    """A directory's size is the bytes under it; identical directories share one id."""
    root = write(store, DATASET)
    data = lookup(store, root, b"data")
    assert data is not None and data.is_dir
    assert data.size == sum(e.size for p, e in DATASET.items() if p.startswith(b"data/"))
    copy = {**DATASET, **{b"backup/" + p: e for p, e in DATASET.items() if p.startswith(b"data/")}}
    root2 = write(store, copy)
    backup_data = lookup(store, root2, b"backup/data")
    assert backup_data is not None and backup_data.id == data.id


def test_tree_id_is_independent_of_stage_order() -> None:
    """The same content in any insertion order gives the same root id."""
    items = list(DATASET.items())
    assert build_from_stage(dict(items))[0] == build_from_stage(dict(reversed(items)))[0]


def test_empty_stage_is_the_empty_tree(store: ObjectStore) -> None:
    """An empty stage is the empty tree, which is stored and flattens to nothing."""
    root = write(store, {})
    assert root == EMPTY_TREE
    assert store.has(EMPTY_TREE)
    assert flatten(store, root) == {}


def test_empty_directories_are_kept(store: ObjectStore) -> None:
    """An empty directory is a leaf with EMPTY_TREE, and it changes the root id."""
    root = write(store, DATASET)
    entry = flatten(store, root)[b"data/train/empty_class"]
    assert entry.mode == MODE_DIR and entry.id == EMPTY_TREE
    without = {p: e for p, e in DATASET.items() if p != b"data/train/empty_class"}
    assert write(store, without) != root
    nested_empty = write(store, {b"a/b/c": empty_dir()})
    assert leaves(store, nested_empty) == {b"a/b/c": (MODE_DIR, 0, EMPTY_TREE)}


def test_lookup(store: ObjectStore) -> None:
    """lookup finds files, symlinks, directories and empty directories; misses are None."""
    root = write(store, DATASET)
    found = lookup(store, root, b"data/train/cat/002.png")
    assert found is not None and found.id == blob("cat2") and found.name == b"002.png"
    link = lookup(store, root, b"latest")
    assert link is not None and link.is_link
    sub = lookup(store, root, b"data/train")
    assert sub is not None and sub.is_dir
    assert leaves(store, sub.id) == {
        p[len(b"data/train/") :]: v
        for p, v in as_leaves(DATASET).items()
        if p.startswith(b"data/train/")
    }
    empty = lookup(store, root, b"data/train/empty_class")
    assert empty is not None and empty.id == EMPTY_TREE
    whole = lookup(store, root, b"")
    assert whole is not None and whole.id == root
    for missing in (
        b"nope",
        b"data/nope",
        b"data/train/cat/003.png",
        b"README/inside-a-file",
        b"data/train/empty_class/x",
        b"data/train/cat/001.png/x",
    ):
        assert lookup(store, root, missing) is None, missing


def test_diff_identical_trees_reads_nothing(cstore: CountingStore) -> None:
    """Equal roots are equal content: no object is read at all."""
    root = write(cstore, DATASET)
    cstore.reads.clear()
    assert list(diff_trees(cstore, root, root)) == []
    assert cstore.reads == []


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        ({b"data/train/cat/003.png": file("cat3")}, {b"data/train/cat/003.png": "added"}),
        ({b"data/labels.csv": file("labels v2")}, {b"data/labels.csv": "modified"}),
        ({b"README": file("readme", MODE_EXEC)}, {b"README": "modified"}),
        ({b"data/train/dog/001.png": None}, {b"data/train/dog/001.png": "deleted"}),
        (
            {b"README": None, b"README/part1": file("p1"), b"README/part2": file("p2")},
            {b"README": "deleted", b"README/part1": "added", b"README/part2": "added"},
        ),
        (
            {b"data/train/dog/001.png": None, b"data/train/dog": file("now a file")},
            {b"data/train/dog/001.png": "deleted", b"data/train/dog": "added"},
        ),
        (
            {b"data/train/empty_class": None, b"data/train/empty_class/x.png": file("x")},
            {b"data/train/empty_class": "deleted", b"data/train/empty_class/x.png": "added"},
        ),
        ({b"data/train/empty_class": None}, {b"data/train/empty_class": "deleted"}),
        (
            {b"new/deep/dir/a": file("a"), b"new/deep/b": file("b")},
            {b"new/deep/dir/a": "added", b"new/deep/b": "added"},
        ),
        (
            {p: None for p in DATASET if p.startswith(b"data/train/cat/")},
            {p: "deleted" for p in DATASET if p.startswith(b"data/train/cat/")},
        ),
    ],
    ids=[
        "add",
        "modify",
        "mode",
        "delete",
        "file-to-dir",
        "dir-to-file",
        "empty-dir-filled",
        "empty-dir-removed",
        "add-subtree",
        "delete-subtree",
    ],
)
def test_diff_reports_exactly_the_changed_leaves(
    store: ObjectStore, edit: dict[bytes, StageEntry | None], expected: dict[bytes, str]
) -> None:
    """diff_trees lists every changed leaf once, with the right status, old and new entry;
    the reverse diff swaps additions and deletions."""
    after = dict(DATASET)
    for path, entry in edit.items():
        if entry is None:
            del after[path]
        else:
            after[path] = entry
    a, b = write(store, DATASET), write(store, after)
    assert changes(store, a, b) == expected
    for change in diff_trees(store, a, b):
        old, new = DATASET.get(change.path), after.get(change.path)
        assert (change.old is None) == (old is None) and (change.new is None) == (new is None)
        if change.old is not None and old is not None:
            assert (change.old.mode, change.old.id) == (old.mode, old.id)
        if change.new is not None and new is not None:
            assert (change.new.mode, change.new.id) == (new.mode, new.id)
    flipped = {"added": "deleted", "deleted": "added", "modified": "modified"}
    assert changes(store, b, a) == {p: flipped[s] for p, s in expected.items()}


def test_diff_against_nothing(store: ObjectStore) -> None:
    """Diffing from or to no tree lists every leaf as added or deleted."""
    root = write(store, DATASET)
    assert changes(store, None, root) == dict.fromkeys(DATASET, "added")
    assert changes(store, root, None) == dict.fromkeys(DATASET, "deleted")


def test_diff_reads_only_differing_subtrees(cstore: CountingStore) -> None:
    """Cost grows with the change: a one-file edit in a wide tree reads only the trees on
    the path to that file, never the unchanged siblings."""
    wide = {f"shard{d:02}/f{i}".encode(): file(f"{d}-{i}") for d in range(30) for i in range(5)}
    wide[b"shard07/deep/er/x"] = file("x")
    edited = {**wide, b"shard07/deep/er/x": file("x2")}
    a, b = write(cstore, wide), write(cstore, edited)
    cstore.reads.clear()
    assert changes(cstore, a, b) == {b"shard07/deep/er/x": "modified"}
    assert len(cstore.reads) == 2 * 4  # root, shard07, deep, er on each side
    untouched = {lookup(cstore, a, f"shard{d:02}".encode()).id for d in range(30) if d != 7}  # type: ignore[union-attr]
    cstore.reads.clear()
    list(diff_trees(cstore, a, b))
    assert not untouched & set(cstore.reads)


def test_diff_entries(store: ObjectStore) -> None:
    """diff_entries compares two entries at one path, files or directories alike."""
    root = write(store, DATASET)
    train = lookup(store, root, b"data/train")
    labels = lookup(store, root, b"data/labels.csv")
    assert train is not None and labels is not None
    assert list(diff_entries(store, b"p", train, train)) == []
    got = {c.path: c.status for c in diff_entries(store, b"p", labels, train)}
    assert got == {
        b"p": "deleted",
        b"p/cat/001.png": "added",
        b"p/cat/002.png": "added",
        b"p/dog/001.png": "added",
        b"p/empty_class": "added",
    }
    assert [c.status for c in diff_entries(store, b"p", None, labels)] == ["added"]


# -- property: build/flatten and diff agree with plain dictionaries ------------------------

components = st.sampled_from([b"a", b"b", b"c", b"d.txt", b"e e", b"\xc3\xa9"])
paths = st.lists(components, min_size=1, max_size=4).map(b"/".join)
entries = st.one_of(
    st.builds(file, st.sampled_from(["1", "2", "3"]), st.sampled_from([MODE_FILE, MODE_EXEC])),
    st.just(empty_dir()),
)


def consistent(stage: Stage) -> Stage:
    """Drop paths that would be both a leaf and a directory (the stage never has those)."""
    dirs = {p[:i] for p in stage for i in range(len(p)) if p[i : i + 1] == b"/"}
    return {p: e for p, e in stage.items() if p not in dirs}


stages = st.dictionaries(paths, entries, max_size=25).map(consistent)
PROPS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@PROPS
@given(stages, stages)
def test_property_flatten_and_diff(
    tmp_path_factory: pytest.TempPathFactory, a: Stage, b: Stage
) -> None:
    """For random stages: flatten(build(s)) == s, and diff_trees equals the naive diff of
    the flattened dictionaries (same paths, statuses and entries)."""
    store = ObjectStore(make_store_dir(tmp_path_factory.mktemp("prop")))
    try:
        ra, rb = write(store, a), write(store, b)
        assert leaves(store, ra) == as_leaves(a)
        assert leaves(store, rb) == as_leaves(b)
        naive: dict[bytes, Change] = {}
        for p in a.keys() | b.keys():
            x, y = a.get(p), b.get(p)
            if x is None or y is None or (x.id, x.mode) != (y.id, y.mode):
                naive[p] = Change(p, None, None)
        got = list(diff_trees(store, ra, rb))
        assert sorted(c.path for c in got) == sorted(naive)
        for c in got:
            assert (c.old is None) == (c.path not in a)
            assert (c.new is None) == (c.path not in b)
    finally:
        store.close()
