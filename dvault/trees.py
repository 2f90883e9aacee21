"""Merkle trees over paths: build them from the stage, walk them, and diff them.

Diffing compares subtree ids first and only descends where they differ, so the cost of
``status``, ``diff`` and ``checkout`` grows with the change, not with the repository.

A path's leaf is a file, a symlink or an *empty* directory. Empty directories are
recorded (an image-classification dataset with an empty class folder is a different
dataset), as a directory entry pointing at the empty tree.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from dvault.hashing import ObjectId, ObjectType, object_id
from dvault.objects import MODE_DIR, Tree, TreeEntry

if TYPE_CHECKING:
    from dvault.store.objectstore import ObjectStore
    from dvault.workspace.state import StageEntry

EMPTY_TREE_BODY = Tree().encode()
EMPTY_TREE = object_id(ObjectType.TREE, EMPTY_TREE_BODY)


@dataclass(frozen=True, slots=True)
class Change:
    """One leaf path that differs: ``old`` or ``new`` is None for an add or a delete."""

    path: bytes
    old: TreeEntry | None
    new: TreeEntry | None

    @property
    def status(self) -> str:
        if self.old is None:
            return "added"
        if self.new is None:
            return "deleted"
        return "modified"


def build_from_stage(
    stage: dict[bytes, StageEntry],
) -> tuple[ObjectId, list[tuple[ObjectId, bytes]]]:
    """Root tree id of the stage and every tree object (id, body) it consists of."""
    leaves: dict[bytes, list[TreeEntry]] = defaultdict(list)
    dirs: set[bytes] = {b""}
    for path, entry in stage.items():
        parent, _, name = path.rpartition(b"/")
        leaves[parent].append(TreeEntry(name, entry.mode, entry.size, entry.id))
        while parent not in dirs:
            dirs.add(parent)
            parent = parent.rpartition(b"/")[0]
    objects: list[tuple[ObjectId, bytes]] = []
    for d in sorted(dirs, key=lambda p: p.count(b"/") if p else -1, reverse=True):
        tree = Tree.build(leaves.get(d, []))
        body = tree.encode()
        oid = object_id(ObjectType.TREE, body)
        objects.append((oid, body))
        if d:
            parent, _, name = d.rpartition(b"/")
            leaves[parent].append(TreeEntry(name, MODE_DIR, tree.size, oid))
    return objects[-1][0], objects


def _join(prefix: bytes, name: bytes) -> bytes:
    return prefix + b"/" + name if prefix else name


def read_tree(store: ObjectStore, oid: bytes) -> Tree:
    if oid == EMPTY_TREE:  # referenced by empty directories but not necessarily stored
        return Tree()
    tree = store.get(oid, ObjectType.TREE)
    assert isinstance(tree, Tree)
    return tree


def walk(
    store: ObjectStore, tree_id: bytes, prefix: bytes = b""
) -> Iterator[tuple[bytes, TreeEntry]]:
    """Every leaf (file, symlink, empty directory) under ``tree_id``, depth first, sorted."""
    for entry in read_tree(store, tree_id).entries:
        path = _join(prefix, entry.name)
        if entry.is_dir and entry.id != EMPTY_TREE:
            yield from walk(store, entry.id, path)
        else:
            yield path, entry


def flatten(store: ObjectStore, tree_id: bytes) -> dict[bytes, TreeEntry]:
    return dict(walk(store, tree_id))


def lookup(store: ObjectStore, tree_id: bytes, path: bytes) -> TreeEntry | None:
    """The entry at ``path`` (a directory entry for a subtree), or None."""
    if not path:
        tree = read_tree(store, tree_id)
        return TreeEntry(b"", MODE_DIR, tree.size, tree_id)  # type: ignore[arg-type]
    current = tree_id
    parts = path.split(b"/")
    for i, part in enumerate(parts):
        found = next((e for e in read_tree(store, current).entries if e.name == part), None)
        if found is None:
            return None
        if i == len(parts) - 1:
            return found
        if not found.is_dir:
            return None
        current = found.id
    return None


def expand(store: ObjectStore, path: bytes, entry: TreeEntry) -> Iterator[tuple[bytes, TreeEntry]]:
    """The leaves at or under ``path``, whose entry is ``entry`` (a leaf or a directory)."""
    if entry.is_dir and entry.id != EMPTY_TREE:
        yield from walk(store, entry.id, path)
    else:
        yield path, entry


def diff_trees(
    store: ObjectStore, old: bytes | None, new: bytes | None, prefix: bytes = b""
) -> Iterator[Change]:
    """Leaf-level changes from tree ``old`` to tree ``new`` (None means empty), sorted."""
    if old == new:
        return
    old_entries = {e.name: e for e in read_tree(store, old).entries} if old else {}
    new_entries = {e.name: e for e in read_tree(store, new).entries} if new else {}
    for name in sorted(old_entries.keys() | new_entries.keys()):
        a, b = old_entries.get(name), new_entries.get(name)
        path = _join(prefix, name)
        if a is not None and b is not None and a.id == b.id and a.mode == b.mode:
            continue
        a_sub = a is not None and a.is_dir and a.id != EMPTY_TREE
        b_sub = b is not None and b.is_dir and b.id != EMPTY_TREE
        if a_sub and b_sub:
            yield from diff_trees(store, a.id, b.id, path)  # type: ignore[union-attr]
            continue
        if a is not None and b is not None and not a_sub and not b_sub:
            yield Change(path, a, b)
            continue
        # an added or removed subtree, or a file that became a directory (or the reverse)
        if a is not None:
            for p, e in expand(store, path, a):
                yield Change(p, e, None)
        if b is not None:
            for p, e in expand(store, path, b):
                yield Change(p, None, e)


def diff_entries(
    store: ObjectStore, path: bytes, old: TreeEntry | None, new: TreeEntry | None
) -> Iterator[Change]:
    """Leaf-level changes between two entries at ``path`` (either may be a directory)."""
    if old is not None and new is not None and old.id == new.id and old.mode == new.mode:
        return
    old_tree = old.id if old is not None and old.is_dir and old.id != EMPTY_TREE else None
    new_tree = new.id if new is not None and new.is_dir and new.id != EMPTY_TREE else None
    if old_tree is None and new_tree is None:
        yield Change(path, old, new)
        return
    if old is not None and old_tree is None:
        yield Change(path, old, None)
    yield from diff_trees(store, old_tree, new_tree, path)
    if new is not None and new_tree is None:
        yield Change(path, None, new)
