"""Building trees: the canonical tree of a stage, whole (:func:`build_from_stage`,
:func:`build_from_sorted`) or by editing the previous one (:func:`update_tree`), which
re-encodes only the directories and shards an edit reaches."""

from __future__ import annotations

import bisect
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from operator import itemgetter
from typing import Protocol

from dvault.errors import UsageError
from dvault.hashing import ObjectId, ObjectType, object_id
from dvault.treeobjects import (
    MAX_SHARD_DEPTH,
    MODE_DIR,
    ShardRef,
    Tree,
    TreeEntry,
    TreeFanout,
    TreeNode,
    TreeShard,
    shard_key,
)
from dvault.trees.nodes import (
    _HEX,
    EMPTY_TREE,
    EMPTY_TREE_BODY,
    MAX_DEPTH,
    Read,
    TreeSource,
    _child,
    _directory,
    _entries_under,
    _find,
    _join,
    _reader,
)

SHARD_ENTRIES = 1024
"""Directories of at most this many entries are one plain tree object (the encoding and
ids they always had); larger ones are sharded, and so is any shard above this size
(unless it is at MAX_SHARD_DEPTH). 1024 entries is ~64 KiB of tree with 20-byte names."""


Built = list[tuple[ObjectId, bytes]]
Put = Callable[[ObjectId, bytes], None]


class Leaf(Protocol):
    """What a tree records for a leaf path (a stage entry or a tree entry)."""

    @property
    def mode(self) -> int: ...
    @property
    def size(self) -> int: ...
    @property
    def id(self) -> ObjectId: ...


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
