"""Merkle trees over paths: build them from the stage, walk them, and diff them.

Diffing compares subtree ids first and only descends where they differ, so the cost of
``status``, ``diff`` and ``checkout`` grows with the change, not with the repository.

A path's leaf is a file, a symlink or an *empty* directory. Empty directories are
recorded (an image-classification dataset with an empty class folder is a different
dataset), as a directory entry pointing at the empty tree.

A directory of more than :data:`SHARD_ENTRIES` entries is stored sharded: a fan-out node
whose children split the names by the hex digits of blake3(name), recursively, down to
shard leaves of at most that many entries (docs/format.md, "Trees"). Hash buckets keep a
one-file change to one leaf and the fan-out nodes above it — O(log n) tree bytes — and
the shape depends only on the set of names, so the same directory always has one id
however it was built. Every reader here sees the logical directory; only diff and the
incremental :func:`update_tree` look at shards, to skip the ones with equal ids.

The package: ``nodes.py`` reads (a node, a directory, a path, every leaf under one),
``diff.py`` compares two trees, ``build.py`` makes them, ``merge.py`` merges three.
Every name is importable from ``dvault.trees``; the modules import each other, never
this one.
"""

from __future__ import annotations

from dvault.trees.build import (
    SHARD_ENTRIES,
    Built,
    Leaf,
    Put,
    build_from_sorted,
    build_from_stage,
    too_deep_to_store,
    under_dir,
    update_tree,
)
from dvault.trees.diff import Change, diff_entries, diff_trees
from dvault.trees.merge import Conflict, FileMerger, TreeMerge, merge_trees
from dvault.trees.nodes import (
    EMPTY_TREE,
    EMPTY_TREE_BODY,
    MAX_DEPTH,
    Read,
    TreeSource,
    check_child,
    depth_of,
    expand,
    find_entry,
    flatten,
    is_directory_node,
    lookup,
    read_node,
    read_tree,
    shard_objects,
    too_deep,
    walk,
)

__all__ = [
    "EMPTY_TREE",
    "EMPTY_TREE_BODY",
    "MAX_DEPTH",
    "SHARD_ENTRIES",
    "Built",
    "Change",
    "Conflict",
    "FileMerger",
    "Leaf",
    "Put",
    "Read",
    "TreeMerge",
    "TreeSource",
    "build_from_sorted",
    "build_from_stage",
    "check_child",
    "depth_of",
    "diff_entries",
    "diff_trees",
    "expand",
    "find_entry",
    "flatten",
    "is_directory_node",
    "lookup",
    "merge_trees",
    "read_node",
    "read_tree",
    "shard_objects",
    "too_deep",
    "too_deep_to_store",
    "under_dir",
    "update_tree",
    "walk",
]
