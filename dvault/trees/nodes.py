"""Reading trees: a directory's node(s) from a store, its entries, a path's entry, and
every leaf under a directory — through the logical directory, whether it is stored whole
or sharded. Every walker is iterative and stops at :data:`MAX_DEPTH`."""

from __future__ import annotations

import bisect
from collections.abc import Callable, Iterable, Iterator
from typing import Protocol

from dvault.errors import CorruptObject
from dvault.hashing import ObjectId, ObjectType, object_id
from dvault.objects import Object
from dvault.treeobjects import (
    MODE_DIR,
    ShardRef,
    Tree,
    TreeEntry,
    TreeFanout,
    TreeNode,
    TreeShard,
    shard_key,
)

EMPTY_TREE_BODY = Tree().encode()
EMPTY_TREE = object_id(ObjectType.TREE, EMPTY_TREE_BODY)

MAX_DEPTH = 1024
"""Most components a path in a tree may have. A path is at most PATH_MAX (4096) bytes, so
no file system holds a deeper one that is useful; a tree nesting deeper (hostile: 1,500
levels cost a few KB) is corrupt. Every walker here is iterative and stops at this depth,
so no tree can exhaust the stack."""


_HEX = b"0123456789abcdef"

Read = Callable[[ObjectId], TreeNode]


class TreeSource(Protocol):
    """What reading trees asks of a store: an object by id, verified and decoded. The
    object store is one, and so is a remote read in place (``dvault.reader``); declared
    here, on the format floor, so trees never import the store above them."""

    def get(self, oid: bytes, expect: ObjectType | None = None) -> Object: ...


# -- reading nodes ----------------------------------------------------------------------


def read_node(store: TreeSource, oid: bytes) -> TreeNode:
    """A tree object as stored: a plain tree, a fan-out node or a shard leaf."""
    if oid == EMPTY_TREE:  # referenced by empty directories but not necessarily stored
        return Tree()
    node = store.get(oid, ObjectType.TREE)
    assert isinstance(node, Tree | TreeShard | TreeFanout)
    return node


def _reader(store: TreeSource) -> Read:
    return lambda oid: read_node(store, oid)


def is_directory_node(node: TreeNode) -> bool:
    """Whether ``node`` can stand for a whole directory (a commit's tree, a directory
    entry): a plain tree or a depth-0 fan-out, never a shard of some other directory."""
    return isinstance(node, Tree) or (isinstance(node, TreeFanout) and not node.prefix)


def check_child(parent_prefix: bytes, ref: ShardRef, node: TreeNode) -> None:
    """Refuse a fan-out child that is not exactly the shard its parent names: one level
    deeper, under the parent's prefix and bucket, holding the count and size it claims."""
    prefix = parent_prefix + _HEX[ref.bucket : ref.bucket + 1]
    if isinstance(node, Tree) or node.prefix != prefix:
        raise CorruptObject(f"tree object {ref.id.hex()} is not the shard {prefix.decode()}")
    count = len(node.entries) if isinstance(node, TreeShard) else node.count
    if count != ref.count or node.size != ref.size:
        raise CorruptObject(
            f"tree shard {ref.id.hex()} holds {count} entries of {node.size} bytes, "
            f"not the {ref.count} of {ref.size} bytes its parent records"
        )


def _child(read: Read, parent: TreeFanout, ref: ShardRef) -> TreeShard | TreeFanout:
    node = read(ref.id)
    check_child(parent.prefix, ref, node)
    assert not isinstance(node, Tree)
    return node


def _directory(read: Read, oid: bytes) -> Tree | TreeFanout:
    node = read(ObjectId(oid))
    if not is_directory_node(node):
        raise CorruptObject(f"tree object {oid.hex()} is a shard, not a directory")
    assert isinstance(node, Tree | TreeFanout)
    return node


def _entries_under(read: Read, node: TreeNode) -> Iterator[TreeEntry]:
    """Every entry of a node (a fan-out's in shard order, not name order)."""
    if isinstance(node, TreeFanout):
        for ref in node.children:
            yield from _entries_under(read, _child(read, node, ref))
    else:
        yield from node.entries


def _find(read: Read, node: TreeNode, name: bytes) -> TreeEntry | None:
    """The entry called ``name`` in a directory node: one shard per level, by hash."""
    key = shard_key(name) if isinstance(node, TreeFanout) else b""
    while isinstance(node, TreeFanout):
        digit = _HEX.index(key[len(node.prefix)])
        ref = next((c for c in node.children if c.bucket == digit), None)
        if ref is None:
            return None
        node = _child(read, node, ref)
    entries = node.entries
    i = bisect.bisect_left(entries, name, key=lambda e: e.name)
    return entries[i] if i < len(entries) and entries[i].name == name else None


def read_tree(store: TreeSource, oid: bytes) -> Tree:
    """The directory ``oid`` with all its entries sorted by name, stored whole or sharded
    (a sharded one is gathered into a Tree that is never stored as such)."""
    read = _reader(store)
    node = _directory(read, oid)
    if isinstance(node, Tree):
        return node
    return Tree.build(list(_entries_under(read, node)))


def find_entry(store: TreeSource, tree_id: bytes, name: bytes) -> TreeEntry | None:
    """The entry ``name`` (one path component) of directory ``tree_id``, or None; reads
    only the shards on the way to it."""
    read = _reader(store)
    return _find(read, _directory(read, tree_id), name)


def _join(prefix: bytes, name: bytes) -> bytes:
    return prefix + b"/" + name if prefix else name


def depth_of(path: bytes) -> int:
    """The number of components of a project-relative path (0 for the root)."""
    return path.count(b"/") + 1 if path else 0


def too_deep(tree_id: bytes, path: bytes) -> CorruptObject:
    """The error for a tree nesting deeper than MAX_DEPTH, naming where (shortened: the
    whole path is thousands of bytes)."""
    parts = path.split(b"/")
    shown = b"/".join(parts[:3]).decode(errors="backslashreplace")
    return CorruptObject(
        f"tree {tree_id.hex()} nests directories deeper than {MAX_DEPTH} levels "
        f"(at {shown!r}/... with {len(parts)} components): it is damaged or hostile"
    )


def walk(
    store: TreeSource, tree_id: bytes, prefix: bytes = b""
) -> Iterator[tuple[bytes, TreeEntry]]:
    """Every leaf (file, symlink, empty directory) under ``tree_id``, depth first, sorted.

    Iterative (a stack of directory listings, never of Python frames); a directory at
    MAX_DEPTH components or deeper is refused as :func:`too_deep`."""
    stack = [(prefix, depth_of(prefix), iter(read_tree(store, tree_id).entries))]
    while stack:
        path, depth, entries = stack[-1]
        entry = next(entries, None)
        if entry is None:
            stack.pop()
            continue
        child = _join(path, entry.name)
        if entry.is_dir and entry.id != EMPTY_TREE:
            if depth + 1 >= MAX_DEPTH:
                raise too_deep(tree_id, child)
            stack.append((child, depth + 1, iter(read_tree(store, entry.id).entries)))
        else:
            yield child, entry


def flatten(store: TreeSource, tree_id: bytes) -> dict[bytes, TreeEntry]:
    return dict(walk(store, tree_id))


def lookup(store: TreeSource, tree_id: bytes, path: bytes) -> TreeEntry | None:
    """The entry at ``path`` (a directory entry for a subtree), or None."""
    read = _reader(store)
    if not path:
        node = _directory(read, tree_id)
        return TreeEntry(b"", MODE_DIR, node.size, tree_id)  # type: ignore[arg-type]
    current = tree_id
    parts = path.split(b"/")
    for i, part in enumerate(parts):
        found = _find(read, _directory(read, current), part)
        if found is None:
            return None
        if i == len(parts) - 1:
            return found
        if not found.is_dir:
            return None
        current = found.id
    return None


def expand(store: TreeSource, path: bytes, entry: TreeEntry) -> Iterator[tuple[bytes, TreeEntry]]:
    """The leaves at or under ``path``, whose entry is ``entry`` (a leaf or a directory)."""
    if entry.is_dir and entry.id != EMPTY_TREE:
        yield from walk(store, entry.id, path)
    else:
        yield path, entry


def shard_objects(store: TreeSource, tree_id: bytes) -> Iterable[ObjectId]:
    """The ids of the fan-out nodes and shards of directory ``tree_id`` (tests, tools)."""
    read = _reader(store)
    pending: list[TreeNode] = [_directory(read, tree_id)]
    while pending:
        node = pending.pop()
        if isinstance(node, TreeFanout):
            for ref in node.children:
                yield ref.id
                pending.append(_child(read, node, ref))
