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
"""

from __future__ import annotations

import bisect
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from operator import itemgetter
from typing import Protocol

from dvault.errors import CorruptObject, UsageError
from dvault.hashing import ObjectId, ObjectType, object_id
from dvault.objects import (
    MAX_SHARD_DEPTH,
    MODE_DIR,
    Object,
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

SHARD_ENTRIES = 1024
"""Directories of at most this many entries are one plain tree object (the encoding and
ids they always had); larger ones are sharded, and so is any shard above this size
(unless it is at MAX_SHARD_DEPTH). 1024 entries is ~64 KiB of tree with 20-byte names."""

_HEX = b"0123456789abcdef"

Read = Callable[[ObjectId], TreeNode]
Built = list[tuple[ObjectId, bytes]]
Put = Callable[[ObjectId, bytes], None]


class TreeSource(Protocol):
    """What reading trees asks of a store: an object by id, verified and decoded. The
    object store is one, and so is a remote read in place (``dvault.reader``); declared
    here, on the format floor, so trees never import the store above them."""

    def get(self, oid: bytes, expect: ObjectType | None = None) -> Object: ...


class Leaf(Protocol):
    """What a tree records for a leaf path (a stage entry or a tree entry)."""

    @property
    def mode(self) -> int: ...
    @property
    def size(self) -> int: ...
    @property
    def id(self) -> ObjectId: ...


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


# -- diff -------------------------------------------------------------------------------


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


# -- building ---------------------------------------------------------------------------


class _Builder:
    """Makes the canonical node(s) of a directory's entries and collects the new objects.

    Canonical shape of entries E at a prefix of depth d: one node when ``len(E) <=
    threshold`` (a plain tree at d = 0, a shard leaf below) or at MAX_SHARD_DEPTH;
    otherwise a fan-out whose child for each next hex digit is the canonical shape of
    the entries under it. Nodes made here are readable through :meth:`read` before
    they are stored (an incremental update re-reads what it just made)."""

    def __init__(self, read: Read | None, threshold: int | None, put: Put | None = None) -> None:
        """With ``put``, each new object goes to it as soon as it is made, and neither
        the object nor its node is kept (a full build of a large stage)."""
        self.store_read = read
        self.threshold = threshold or SHARD_ENTRIES
        self.objects: Built = []
        self.made: dict[ObjectId, TreeNode] = {}
        self.put = put
        self.seen: set[ObjectId] = set()

    def read(self, oid: ObjectId) -> TreeNode:
        node = self.made.get(oid)
        if node is not None:
            return node
        assert self.store_read is not None
        return self.store_read(oid)

    def add(self, node: TreeNode) -> ObjectId:
        body = node.encode()
        oid = object_id(ObjectType.TREE, body)
        if self.put is not None:
            if oid not in self.seen:
                self.seen.add(oid)
                self.put(oid, body)
        elif oid not in self.made:
            self.made[oid] = node
            self.objects.append((oid, body))
        return oid

    def build(self, entries: list[TreeEntry], prefix: bytes = b"") -> ShardRef:
        """The canonical shape of ``entries`` at ``prefix``, as a reference to its top
        node (``bucket`` is meaningless here; callers set it)."""
        if len(entries) <= self.threshold or len(prefix) == MAX_SHARD_DEPTH:
            return self._single(entries, prefix)
        # sorted by key, the entries under any prefix are one slice, found by bisection
        keyed = sorted(((shard_key(e.name), e) for e in entries), key=itemgetter(0))
        keys = [key for key, _ in keyed]
        return self._fan_out(keys, [e for _, e in keyed], 0, len(keys), prefix)

    def _single(self, entries: list[TreeEntry], prefix: bytes) -> ShardRef:
        ordered = tuple(sorted(entries, key=lambda e: e.name))
        node: TreeNode = TreeShard(prefix, ordered) if prefix else Tree(ordered)
        return ShardRef(0, len(ordered), node.size, self.add(node))

    def _fan_out(
        self, keys: list[bytes], entries: list[TreeEntry], lo: int, hi: int, prefix: bytes
    ) -> ShardRef:
        """The canonical shape of ``entries[lo:hi]``, whose sorted ``keys`` all start
        with ``prefix``."""
        depth = len(prefix)
        if hi - lo <= self.threshold or depth == MAX_SHARD_DEPTH:
            return self._single(entries[lo:hi], prefix)
        children = []
        while lo < hi:
            child = keys[lo][: depth + 1]
            end = bisect.bisect_left(keys, child + b"g", lo, hi)  # "g" follows every digit
            ref = self._fan_out(keys, entries, lo, end, child)
            children.append(ShardRef(_HEX.index(child[depth]), ref.count, ref.size, ref.id))
            lo = end
        node = TreeFanout(prefix, tuple(children))
        return ShardRef(0, node.count, node.size, self.add(node))

    def edit(
        self, node: TreeNode | None, prefix: bytes, edits: Mapping[bytes, TreeEntry | None]
    ) -> ShardRef | None:
        """The canonical shape of ``node`` (entries of one directory under ``prefix``, or
        None for none) after setting (or, for None, removing) the named entries; None
        when nothing is left. Only the shards holding an edited name are read."""
        if isinstance(node, TreeFanout):
            depth = len(prefix)
            by_bucket: dict[int, dict[bytes, TreeEntry | None]] = defaultdict(dict)
            for name, entry in edits.items():
                by_bucket[_HEX.index(shard_key(name)[depth])][name] = entry
            refs = {c.bucket: c for c in node.children}
            for bucket, sub in by_bucket.items():
                old = refs.get(bucket)
                child = _child(self.read, node, old) if old is not None else None
                made = self.edit(child, prefix + _HEX[bucket : bucket + 1], sub)
                if made is None:
                    refs.pop(bucket, None)
                else:
                    refs[bucket] = ShardRef(bucket, made.count, made.size, made.id)
            fan = TreeFanout(prefix, tuple(refs[b] for b in sorted(refs)))
            if not refs:
                return None
            if fan.count > self.threshold:
                return ShardRef(0, fan.count, fan.size, self.add(fan))
            # shrunk to the threshold: back to a single node (reads the few shards left)
            return self._single(list(_entries_under(self.read, fan)), prefix)
        entries = {e.name: e for e in node.entries} if node is not None else {}
        for name, entry in edits.items():
            if entry is None:
                entries.pop(name, None)
            else:
                entries[name] = entry
        return self.build(list(entries.values()), prefix) if entries else None


def build_from_stage(
    stage: Mapping[bytes, Leaf], threshold: int | None = None
) -> tuple[ObjectId, Built]:
    """Root tree id of the stage and every tree object (id, body) it consists of.

    ``threshold`` overrides :data:`SHARD_ENTRIES` (tests shard small directories)."""
    objects: Built = []
    root = build_from_sorted(sorted(stage.items()), lambda o, b: objects.append((o, b)), threshold)
    return root, objects


def build_from_sorted(
    items: Iterable[tuple[bytes, Leaf]], put: Put, threshold: int | None = None
) -> ObjectId:
    """Root tree id of the stage whose (path, leaf) pairs ``items`` yields in byte order
    (an LMDB cursor's order); each tree object is handed to ``put`` once, as it is made.

    Every path inside directory ``d`` sorts within ``[d + b"/", d + b"0")``, so a
    directory's paths are contiguous: only the directories on the current path are held
    (their entries so far), and a directory is built as soon as the walk leaves it. A
    million-path stage is never in memory at once.
    """
    builder = _Builder(None, threshold, put)
    # the open directories, outermost first: (path, entries so far)
    open_dirs: list[tuple[bytes, list[TreeEntry]]] = [(b"", [])]

    def close_top() -> None:
        path, entries = open_dirs.pop()
        ref = builder.build(entries)
        name = path.rpartition(b"/")[2]
        open_dirs[-1][1].append(TreeEntry(name, MODE_DIR, ref.size, ref.id))

    current = open_dirs[0][1]  # the entries of the innermost open directory
    current_path = b""
    for path, leaf in items:
        parent, _, name = path.rpartition(b"/")
        if parent == current_path:  # most paths: a sibling of the previous one
            current.append(TreeEntry(name, leaf.mode, leaf.size, leaf.id))
            continue
        while len(open_dirs) > 1 and not under_dir(parent, open_dirs[-1][0]):
            close_top()
        top = open_dirs[-1][0]
        if parent != top:  # open the directories between the top one and the parent
            rest = parent[len(top) + 1 :] if top else parent
            for part in rest.split(b"/"):
                top = top + b"/" + part if top else part
                open_dirs.append((top, []))
            if len(open_dirs) > MAX_DEPTH:  # the root is open_dirs[0]
                raise too_deep_to_store(path)
        current_path, current = open_dirs[-1]
        current.append(TreeEntry(name, leaf.mode, leaf.size, leaf.id))
    while len(open_dirs) > 1:
        close_top()
    return builder.build(open_dirs[0][1]).id


def under_dir(path: bytes, directory: bytes) -> bool:
    """True when ``path`` is ``directory`` or inside it (``b""`` is the root)."""
    return not directory or path == directory or path.startswith(directory + b"/")


def update_tree(
    store: TreeSource,
    root: bytes | None,
    edits: Mapping[bytes, Leaf | None],
    threshold: int | None = None,
) -> tuple[ObjectId, Built]:
    """The tree of a stage whose tree was ``root`` after setting (or, for None, removing)
    the leaves at ``edits`` paths, and the tree objects that are new.

    Reads and re-encodes only the directories (and, in sharded ones, the shards) that
    hold an edited path, so a one-file change costs O(depth · log n), not O(stage). The
    result is the canonical tree of the new stage wherever an edit reached; directories
    an edit did not reach keep the ids they had (a plain tree written before sharding
    existed stays as it is until something in it changes).
    """
    builder = _Builder(_reader(store), threshold)
    if not edits and root is not None:
        return ObjectId(bytes(root)), []
    made = _update_directory(builder, root, edits)
    if made is None:
        return EMPTY_TREE, [(EMPTY_TREE, EMPTY_TREE_BODY)]
    return made.id, builder.objects


def too_deep_to_store(path: bytes) -> UsageError:
    """Writers never store what readers refuse: a path deeper than MAX_DEPTH."""
    shown = b"/".join(path.split(b"/")[:3]).decode(errors="backslashreplace")
    return UsageError(
        f"{shown!r}/... is more than {MAX_DEPTH} directories deep: dvault cannot version it"
    )


def _split_edits(
    edits: Mapping[bytes, Leaf | None],
) -> tuple[dict[bytes, Leaf | None], dict[bytes, dict[bytes, Leaf | None]]]:
    """Edits of one directory: those of its own entries, and those below each subdirectory."""
    direct: dict[bytes, Leaf | None] = {}
    nested: dict[bytes, dict[bytes, Leaf | None]] = defaultdict(dict)
    for path, leaf in edits.items():
        name, slash, rest = path.partition(b"/")
        if slash:
            nested[name][rest] = leaf
        else:
            direct[name] = leaf
    return direct, nested


@dataclass
class _Level:
    """One directory being rebuilt by :func:`_update_directory` (a frame of its stack)."""

    path: bytes
    node: TreeNode | None
    direct: dict[bytes, Leaf | None]
    nested: dict[bytes, dict[bytes, Leaf | None]]
    names: Iterator[bytes]
    final: dict[bytes, TreeEntry | None]
    waiting: bytes | None = None  # the subdirectory being rebuilt below this one


def _update_directory(
    builder: _Builder, tree_id: bytes | None, edits: Mapping[bytes, Leaf | None]
) -> ShardRef | None:
    """The directory ``tree_id`` (None: new) after ``edits`` (paths relative to it),
    children first; iterative, with a stack of :class:`_Level` frames, not Python ones."""

    def level(path: bytes, oid: bytes | None, below: Mapping[bytes, Leaf | None]) -> _Level:
        direct, nested = _split_edits(below)
        node = _directory(builder.read, oid) if oid is not None else None
        return _Level(path, node, direct, nested, iter(direct.keys() | nested.keys()), {})

    stack = [level(b"", tree_id, edits)]
    made: ShardRef | None = None
    while True:
        top = stack[-1]
        if top.waiting is not None:  # the subdirectory ``waiting`` was just made
            sub, top.waiting = top.waiting, None
            entry = TreeEntry(sub, MODE_DIR, made.size, made.id) if made is not None else None
            leaf = top.direct.get(sub)
            if entry is None and leaf is not None:  # a directory emptied, or never one
                entry = TreeEntry(sub, leaf.mode, leaf.size, leaf.id)
            top.final[sub] = entry
            continue
        name = next(top.names, None)
        if name is None:
            made = builder.edit(top.node, b"", top.final)
            stack.pop()
            if not stack:
                return made
            continue
        if name in top.nested:
            path = _join(top.path, name)
            if len(stack) >= MAX_DEPTH:
                raise too_deep_to_store(path)
            old = _find(builder.read, top.node, name) if top.node is not None else None
            below = old.id if old is not None and old.is_dir and old.id != EMPTY_TREE else None
            top.waiting = name
            stack.append(level(path, below, top.nested[name]))
            continue
        leaf = top.direct[name]
        top.final[name] = None if leaf is None else TreeEntry(name, leaf.mode, leaf.size, leaf.id)


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
