"""What damage affects: for each damaged or missing object, every file path, commit and
ref that needs it, so a finding says what is at stake ("object → files → commits → refs").

Run only when verify found something, over the refs' whole history. Merkle trees keep it
cheap: what a tree contains is computed once per tree id, however many commits share it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from dvault.commitobjects import Commit, Tag
from dvault.errors import CorruptObject, DvaultError
from dvault.hashing import ObjectId, ObjectType
from dvault.objects import chunk_refs, decode
from dvault.reachability import ReadRaw, TypeOf
from dvault.treeobjects import Tree, TreeFanout, TreeShard
from dvault.trees import MAX_DEPTH

Hits = dict[ObjectId, list[str]]
"""Damaged object -> paths (relative to the tree examined) that use it."""

SHOWN = 3


@dataclass
class Impact:
    files: set[str] = field(default_factory=set)
    commits: set[ObjectId] = field(default_factory=set)
    refs: set[str] = field(default_factory=set)

    def describe(self) -> str:
        """``files a, b (+3 more); 2 commits (abc123…, def456…); refs branch main, tag v1``"""
        parts = []
        if self.files:
            files = sorted(self.files)
            more = f" (+{len(files) - SHOWN} more)" if len(files) > SHOWN else ""
            parts.append(f"file{'s' if len(files) > 1 else ''} {', '.join(files[:SHOWN])}{more}")
        if self.commits:
            ids = sorted(c.hex()[:12] for c in self.commits)
            more = ", …" if len(ids) > SHOWN else ""
            parts.append(f"{len(ids)} commit(s) ({', '.join(ids[:SHOWN])}{more})")
        if self.refs:
            parts.append(f"reachable from {', '.join(sorted(self.refs))}")
        return "; ".join(parts)


class _Tracer:
    def __init__(self, read: ReadRaw, type_of: TypeOf, damaged: set[ObjectId]) -> None:
        self.read = read
        self.type_of = type_of
        self.damaged = damaged
        self.trees: dict[ObjectId, Hits] = {}
        self.files: dict[ObjectId, list[ObjectId]] = {}

    def _decode(self, oid: ObjectId) -> object | None:
        try:
            kind, body = self.read(oid)
            return decode(kind, body)
        except DvaultError:
            return None  # unreadable: reported as damaged itself

    def file(self, oid: ObjectId) -> list[ObjectId]:
        """Damaged objects a file needs: itself, or chunks of its chunk list."""
        if oid not in self.files:
            hits = [oid] if oid in self.damaged else []
            if not hits and self.type_of(oid) == ObjectType.CHUNKS:
                try:
                    _, body = self.read(oid)
                    hits = [ObjectId(c) for c, _ in chunk_refs(body)[1] if c in self.damaged]
                except DvaultError:
                    pass  # unreadable: reported as damaged itself
            self.files[oid] = hits
        return self.files[oid]

    def tree(self, oid: ObjectId) -> Hits:
        """Damaged objects under tree ``oid`` with the paths that use them; subtrees first,
        on an explicit stack (never deeper than MAX_DEPTH directories), each tree once."""
        nodes: dict[ObjectId, object | None] = {}
        stack = [(oid, 0)]
        while stack:
            current, depth = stack[-1]
            if current in self.trees:
                stack.pop()
                continue
            if current not in nodes:  # first visit: read it, then its subtrees first
                nodes[current] = node = self._decode(current)
                for child, deeper in _subtrees(node):
                    if child not in self.trees:
                        if depth + deeper > MAX_DEPTH:
                            raise CorruptObject(
                                f"tree {oid.hex()} nests directories deeper than {MAX_DEPTH} "
                                "levels: it is damaged or hostile"
                            )
                        stack.append((child, depth + deeper))
                continue
            stack.pop()
            self.trees[current] = self._hits(current, nodes.pop(current))
        return self.trees[oid]

    def _hits(self, oid: ObjectId, tree: object | None) -> Hits:
        """The hits of one tree whose subtrees' hits are known."""
        hits: Hits = {oid: [""]} if oid in self.damaged else {}
        if isinstance(tree, TreeFanout):  # a sharded directory: its shards' paths are its own
            for ref in tree.children:
                for bad, paths in self.trees[ref.id].items():
                    hits.setdefault(bad, []).extend(paths)
        elif isinstance(tree, Tree | TreeShard):
            for entry in tree.entries:
                name = entry.name.decode(errors="surrogateescape")
                if entry.is_dir:
                    for bad, paths in self.trees[entry.id].items():
                        hits.setdefault(bad, []).extend(f"{name}/{p}" if p else name for p in paths)
                else:
                    for bad in self.file(entry.id):
                        hits.setdefault(bad, []).append(name)
        return hits


def _subtrees(tree: object | None) -> list[tuple[ObjectId, int]]:
    """The tree ids a tree node refers to, each with how many directory levels deeper it
    is: 0 for a shard (same directory), 1 for a subdirectory's tree."""
    if isinstance(tree, TreeFanout):
        return [(ref.id, 0) for ref in tree.children]
    if isinstance(tree, Tree | TreeShard):
        return [(e.id, 1) for e in tree.entries if e.is_dir]
    return []


def trace(
    read: ReadRaw, type_of: TypeOf, damaged: set[ObjectId], starts: dict[str, bytes]
) -> dict[ObjectId, Impact]:
    """For each damaged id: the paths, commits and (named) starts whose history needs it."""
    tracer = _Tracer(read, type_of, damaged)
    impact = {oid: Impact() for oid in damaged}
    for name, start in starts.items():
        seen: set[ObjectId] = set()
        pending = [ObjectId(bytes(start))]
        while pending:
            oid = pending.pop()
            if oid in seen:
                continue
            seen.add(oid)
            if oid in damaged:
                impact[oid].refs.add(name)
            obj = tracer._decode(oid)
            if isinstance(obj, Tag):
                pending.append(obj.object)
            elif isinstance(obj, Commit):
                for bad, paths in tracer.tree(obj.tree).items():
                    impact[bad].files.update(p for p in paths if p)
                    impact[bad].commits.add(oid)
                    impact[bad].refs.add(name)
                pending.extend(obj.parents)
    return impact
