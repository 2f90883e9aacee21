"""Three-way merge of trees: ours and theirs against their merge base.

A name whose entry is the same in ours and theirs is taken as it is; one that only one
side changed from the base takes that side's entry — a whole subtree by its id, never
read; only names both sides changed differently are looked at more closely: two
directories are merged level by level, two files go to a file merger (the line merge of
label files, ``trees/textmerge.py``) and otherwise, like a delete against a change or a
file against a directory, are conflicts. Ours and theirs are compared shard by shard
(``diff._differing``), so the cost grows with what differs, not with the dataset.

The result is expressed as edits of ours, applied with :func:`update_tree`, so only the
directories (and shards) an edit reaches are re-encoded; nothing is written here: the
caller stores the new tree objects (and whatever blobs its file merger made).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from dvault.hashing import ObjectId
from dvault.treeobjects import TreeEntry, TreeNode
from dvault.trees.build import Built, update_tree
from dvault.trees.diff import _differing
from dvault.trees.nodes import (
    EMPTY_TREE,
    MAX_DEPTH,
    TreeSource,
    _directory,
    _find,
    _join,
    _reader,
    depth_of,
    too_deep,
)

BOTH_MODIFIED = "both-modified"
ADD_ADD = "add/add"
MODIFY_DELETE = "modify/delete"
FILE_DIRECTORY = "file/directory"

FileMerger = Callable[[bytes, TreeEntry, TreeEntry, TreeEntry], TreeEntry | None]
"""Merges one file both sides changed: (path, base, ours, theirs) → the merged entry
(its content already stored by the merger), or None when it cannot (a conflict)."""


@dataclass(frozen=True, slots=True)
class Conflict:
    """A path both sides changed in ways that do not combine; ``kind`` is one of
    ``both-modified``, ``add/add``, ``modify/delete`` and ``file/directory``."""

    path: bytes
    kind: str
    base: TreeEntry | None
    ours: TreeEntry | None
    theirs: TreeEntry | None


@dataclass
class TreeMerge:
    """The outcome: the merged tree and its new tree objects (``tree`` is ours' id and
    ``objects`` empty when theirs adds nothing), the conflicts (sorted by path; when
    there are any, ``tree`` holds only the parts that merged), and the paths of the
    files merged line by line."""

    tree: ObjectId
    objects: Built = field(default_factory=list)
    conflicts: list[Conflict] = field(default_factory=list)
    merged_files: list[bytes] = field(default_factory=list)


def _equal(a: TreeEntry | None, b: TreeEntry | None) -> bool:
    if a is None or b is None:
        return a is b
    return a.id == b.id and a.mode == b.mode


def _subtree(e: TreeEntry | None) -> bool:
    return e is not None and e.is_dir and e.id != EMPTY_TREE


def merge_trees(
    store: TreeSource,
    base: bytes | None,
    ours: bytes,
    theirs: bytes,
    merge_file: FileMerger | None = None,
    threshold: int | None = None,
) -> TreeMerge:
    """Merge root trees ``ours`` and ``theirs`` against ``base`` (None: no common
    history, every name is an add). Iterative: a work list of directory triples, each
    checked against :data:`MAX_DEPTH`. ``threshold``: as for :func:`update_tree` (tests)."""
    if ours == theirs or base == theirs:
        return TreeMerge(ObjectId(bytes(ours)))
    if base == ours:
        return TreeMerge(ObjectId(bytes(theirs)))
    uncached = _reader(store)
    nodes: dict[ObjectId, TreeNode] = {}

    def read(oid: ObjectId) -> TreeNode:  # a base shard is found once per name: read once
        node = nodes.get(oid)
        if node is None:
            node = nodes[oid] = uncached(oid)
        return node

    edits: dict[bytes, TreeEntry | None] = {}
    result = TreeMerge(ObjectId(bytes(ours)))
    pending: list[tuple[bytes, bytes | None, bytes, bytes]] = [(b"", base, ours, theirs)]
    while pending:
        prefix, b_id, o_id, t_id = pending.pop()
        b_node = _directory(read, b_id) if b_id is not None else None
        o_node, t_node = _directory(read, o_id), _directory(read, t_id)
        for name, o, t in sorted(_differing(read, o_node, t_node), key=lambda d: d[0]):
            b = _find(read, b_node, name) if b_node is not None else None
            path = _join(prefix, name)
            if _equal(b, t):
                continue  # only ours changed it
            if _equal(b, o):
                edits[path] = t  # only theirs changed it: take it, unread
                continue
            if _subtree(o) and _subtree(t):
                assert o is not None and t is not None
                if depth_of(path) >= MAX_DEPTH:
                    raise too_deep(ObjectId(bytes(theirs)), path)
                below = b.id if b is not None and _subtree(b) else None
                pending.append((path, below, o.id, t.id))
                continue
            if o is None or t is None:
                kind = MODIFY_DELETE
            elif _subtree(o) != _subtree(t):
                kind = FILE_DIRECTORY
            else:
                files = b is not None and not b.is_dir and not o.is_dir and not t.is_dir
                if files and merge_file is not None:
                    assert b is not None
                    merged = merge_file(path, b, o, t)
                    if merged is not None:
                        edits[path] = TreeEntry(name, merged.mode, merged.size, merged.id)
                        result.merged_files.append(path)
                        continue
                kind = ADD_ADD if b is None else BOTH_MODIFIED
            result.conflicts.append(Conflict(path, kind, b, o, t))
    result.conflicts.sort(key=lambda c: c.path)
    result.merged_files.sort()
    if edits:
        result.tree, result.objects = update_tree(store, ours, edits, threshold)
    return result


__all__ = [
    "ADD_ADD",
    "BOTH_MODIFIED",
    "FILE_DIRECTORY",
    "MODIFY_DELETE",
    "Conflict",
    "FileMerger",
    "TreeMerge",
    "merge_trees",
]
