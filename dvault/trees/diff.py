"""Diffing trees: compare subtree ids first and descend only where they differ, so the
cost of ``status``, ``diff`` and ``checkout`` grows with the change, not with the
repository."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from dvault.hashing import ObjectId
from dvault.treeobjects import TreeEntry, TreeFanout, TreeNode
from dvault.trees.nodes import (
    EMPTY_TREE,
    MAX_DEPTH,
    Read,
    TreeSource,
    _child,
    _directory,
    _entries_under,
    _join,
    _reader,
    depth_of,
    expand,
    too_deep,
)


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


def _differing(
    read: Read, a: TreeNode | None, b: TreeNode | None
) -> Iterator[tuple[bytes, TreeEntry | None, TreeEntry | None]]:
    """Entries that differ between two nodes of one directory level, in no particular
    order. Fan-outs of the same shape are compared child by child and equal children
    (same id) are skipped; any other pair of shapes (a directory that crossed the
    threshold, a shard that split) is compared entry by entry."""
    if isinstance(a, TreeFanout) and isinstance(b, TreeFanout) and a.prefix == b.prefix:
        a_refs = {c.bucket: c for c in a.children}
        b_refs = {c.bucket: c for c in b.children}
        for bucket in sorted(a_refs.keys() | b_refs.keys()):
            x, y = a_refs.get(bucket), b_refs.get(bucket)
            if x is not None and y is not None and x.id == y.id:
                continue
            yield from _differing(
                read,
                _child(read, a, x) if x is not None else None,
                _child(read, b, y) if y is not None else None,
            )
        return
    old = {e.name: e for e in _entries_under(read, a)} if a is not None else {}
    new = {e.name: e for e in _entries_under(read, b)} if b is not None else {}
    for name in old.keys() | new.keys():
        before, after = old.get(name), new.get(name)
        if not _same(before, after):
            yield name, before, after


def _same(a: TreeEntry | None, b: TreeEntry | None) -> bool:
    return a is not None and b is not None and a.id == b.id and a.mode == b.mode


def diff_trees(
    store: TreeSource, old: bytes | None, new: bytes | None, prefix: bytes = b""
) -> Iterator[Change]:
    """Leaf-level changes from tree ``old`` to tree ``new`` (None means empty), sorted.

    Iterative: a stack of per-directory generators, each yielding its changes and the
    pairs of subtrees to descend into, in name order (so the output stays sorted); a
    subtree pair MAX_DEPTH components deep is refused as :func:`too_deep`."""
    if old == new:
        return
    read = _reader(store)
    stack = [_diff_level(store, read, old, new, prefix)]
    while stack:
        item = next(stack[-1], None)
        if item is None:
            stack.pop()
        elif isinstance(item, Change):
            yield item
        else:
            a_id, b_id, path = item
            if depth_of(path) >= MAX_DEPTH:
                raise too_deep(ObjectId(bytes(new or old or b"")), path)
            stack.append(_diff_level(store, read, a_id, b_id, path))


def _diff_level(
    store: TreeSource, read: Read, old: bytes | None, new: bytes | None, prefix: bytes
) -> Iterator[Change | tuple[bytes, bytes, bytes]]:
    """One directory level of :func:`diff_trees`: its changes, and (old id, new id, path)
    for each pair of subtrees that differ, in name order."""
    a_node = _directory(read, old) if old else None
    b_node = _directory(read, new) if new else None
    for name, a, b in sorted(_differing(read, a_node, b_node), key=lambda d: d[0]):
        path = _join(prefix, name)
        a_sub = a is not None and a.is_dir and a.id != EMPTY_TREE
        b_sub = b is not None and b.is_dir and b.id != EMPTY_TREE
        if a_sub and b_sub:
            assert a is not None and b is not None
            yield a.id, b.id, path
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
    store: TreeSource, path: bytes, old: TreeEntry | None, new: TreeEntry | None
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
