"""What a commit needs: walk commits, trees and chunk lists down to every object.

Push, fetch, verify (and later gc) all ask the same question: which objects does this set
of commits reach (their trees, files, and the environment object a commit's meta names:
dvault/environment.py), skipping whatever a ``known`` predicate says is already complete?
A commit that is known is assumed complete with its whole history (the remote's ref log is
only ever appended after everything a ref needs was uploaded), and a known tree is assumed
complete with its whole subtree (Merkle trees: same id, same content below).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from dvault.commitobjects import Commit, Tag
from dvault.environment import recorded_id
from dvault.errors import CorruptObject
from dvault.hashing import ObjectId, ObjectType
from dvault.objects import chunk_refs, decode
from dvault.treeobjects import ShardRef, Tree, TreeFanout, TreeShard
from dvault.trees import EMPTY_TREE, MAX_DEPTH, check_child, is_directory_node

ReadRaw = Callable[[bytes], tuple[ObjectType, bytes]]
TypeOf = Callable[[bytes], ObjectType | None]
Known = Callable[[bytes], bool]


@dataclass
class Reachable:
    """Objects found by a walk, and (if ``keep_paths``) for each one a path that uses it.

    At a million files the paths cost more memory than the ids (~80 against ~115 bytes an
    object): walks that only need the set (push, fetch, local verify) leave them out and
    name a file only for the rare object that is missing or damaged (see impact.py).
    """

    objects: dict[ObjectId, ObjectType] = field(default_factory=dict)
    paths: dict[ObjectId, str] = field(default_factory=dict)
    commits: list[ObjectId] = field(default_factory=list)
    missing: dict[ObjectId, str] = field(default_factory=dict)
    """File objects that ``type_of`` does not know, with a path that needs them (always
    kept: they are few, and a finding must name a file)."""
    keep_paths: bool = True

    def add(self, oid: ObjectId, kind: ObjectType, path: str | None = None) -> bool:
        if oid in self.objects:
            return False
        self.objects[oid] = kind
        if path is not None and self.keep_paths:
            self.paths.setdefault(oid, path)
        return True


def walk(
    read: ReadRaw,
    type_of: TypeOf,
    starts: Iterable[bytes],
    known: Known = lambda _oid: False,
    history: bool = True,
    scopes: list[str] | None = None,
    paths: bool = True,
    found: Reachable | None = None,
    contents_gone: Known = lambda _oid: False,
) -> Reachable:
    """Every object reachable from ``starts`` (commits or tags) that ``known`` rejects.

    ``read`` returns (type, body) of a metadata object (commit, tag, tree, chunk list);
    file content is never read: ``type_of`` (an index lookup) tells a blob from a chunk
    list, so a walk over 600 MiB of data reads only its few MiB of metadata. With
    ``history`` False only the start commits themselves are walked, not parents.
    ``scopes`` limits the file objects to paths under those prefixes (partial clones);
    all trees are still included. ``paths`` False records no path per object (memory:
    see :class:`Reachable`). Objects are added to ``found`` when given (several walks
    sharing one set: what an earlier walk found is not walked again).
    A commit ``contents_gone`` accepts is added and its parents followed, but its tree,
    sources and environment are not walked (contents released by a forget and pruned:
    remote/released.py).
    """
    if found is None:
        found = Reachable(keep_paths=paths)
    pending = [ObjectId(bytes(s)) for s in starts]
    while pending:
        oid = pending.pop()
        if oid in found.objects or known(oid):
            continue
        kind, body = read(oid)
        if kind == ObjectType.TAG:
            tag = decode(kind, body)
            assert isinstance(tag, Tag)
            found.add(oid, kind)
            pending.append(tag.object)
            continue
        if kind != ObjectType.COMMIT:
            raise CorruptObject(f"object {oid.hex()} is a {kind.name.lower()}, not a commit")
        commit = decode(kind, body)
        assert isinstance(commit, Commit)
        found.add(oid, kind)
        found.commits.append(oid)
        if contents_gone(oid):
            if history:
                pending.extend(commit.parents)
            continue
        try:
            _walk_tree(read, type_of, commit.tree, "", known, found, scopes)
        except TooDeep as exc:
            raise CorruptObject(f"commit {oid.hex()}: {exc}") from None
        for source in _source_ids(commit):  # lineage evidence travels with its commit
            if source not in found.objects and not known(source) and type_of(source):
                _walk_file(read, type_of, source, f"(a source of {oid.hex()[:12]})", known, found)
        env = recorded_id(commit.meta)  # the environment object travels with its commit
        if env is not None and not (env in found.objects or known(env)):
            where = f"(the environment of commit {oid.hex()[:12]})"
            _walk_file(read, type_of, env, where, known, found)
        if history:
            pending.extend(commit.parents)
    return found


MAX_SOURCES = 10_000
"""The most ``meta.sources`` entries of one commit followed (a hostile commit may list more)."""


def _source_ids(commit: Commit) -> list[ObjectId]:
    """The content ids of the source files a commit's lineage recorded (``dvault commit
    --source``, ``dvault run``), so push sends them and gc keeps them. Ids that are not
    here (a commit made before they were pushed, or a hostile list) are skipped, never
    reported missing: they are evidence about the data, not the data."""
    items = commit.meta.get("sources") if isinstance(commit.meta, dict) else None
    if not isinstance(items, list):
        return []
    ids = []
    for item in items[:MAX_SOURCES]:
        value = item.get("id") if isinstance(item, dict) else None
        if isinstance(value, str) and len(value) == 64:
            try:
                ids.append(ObjectId(bytes.fromhex(value)))
            except ValueError:
                continue
    return ids


def walk_tree(read: ReadRaw, type_of: TypeOf, tree_id: bytes) -> Reachable:
    """Every object under one tree (the stage's tree, which no commit names yet)."""
    found = Reachable()
    try:
        _walk_tree(read, type_of, ObjectId(bytes(tree_id)), "", lambda _o: False, found, None)
    except TooDeep as exc:
        raise CorruptObject(f"tree {bytes(tree_id).hex()}: {exc}") from None
    return found


class TooDeep(Exception):
    """A tree nests deeper than MAX_DEPTH (reported as CorruptObject naming the commit)."""


def _in_scope(path: str, scopes: list[str] | None) -> bool:
    """True when the file at ``path`` is inside one of the scopes (None: everything)."""
    if scopes is None:
        return True
    return any(not scope or path == scope or path.startswith(scope + "/") for scope in scopes)


def _walk_tree(
    read: ReadRaw,
    type_of: TypeOf,
    tree_id: ObjectId,
    prefix: str,
    known: Known,
    found: Reachable,
    scopes: list[str] | None,
) -> None:
    # (id, path, its number of components, what the object must be: None for a
    # directory, else the fan-out node's prefix and reference that name it as a shard)
    stack: list[tuple[ObjectId, str, int, tuple[bytes, ShardRef] | None]] = [
        (tree_id, prefix, 0, None)
    ]
    while stack:
        oid, path, depth, parent = stack.pop()
        if oid in found.objects or known(oid):
            continue
        kind, body = read(oid)
        node = decode(kind, body) if kind == ObjectType.TREE else None
        if not isinstance(node, Tree | TreeShard | TreeFanout) or (
            parent is None and not is_directory_node(node)
        ):
            raise CorruptObject(f"object {oid.hex()} at {path or '/'} is not a tree")
        if parent is not None:
            check_child(*parent, node)
        found.add(oid, ObjectType.TREE, path or "/")
        if isinstance(node, TreeFanout):  # a sharded directory: its shards share its path
            stack.extend((ref.id, path, depth, (node.prefix, ref)) for ref in node.children)
            continue
        for entry in node.entries:
            name = entry.name.decode(errors="surrogateescape")
            child = f"{path}/{name}" if path else name
            if entry.is_dir:
                # every tree is walked, even outside the scopes: trees are the (small)
                # map a partial clone needs to know the whole snapshot's layout
                if entry.id == EMPTY_TREE:
                    found.add(entry.id, ObjectType.TREE, child)
                elif depth + 1 >= MAX_DEPTH:  # a chain of 1,500 trees costs a few KB
                    shown = "/".join(child.split("/")[:3])
                    raise TooDeep(
                        f"its tree nests directories deeper than {MAX_DEPTH} levels "
                        f"(at {shown!r}/...): it is damaged or hostile"
                    )
                else:
                    stack.append((entry.id, child, depth + 1, None))
            elif _in_scope(child, scopes) and not (entry.id in found.objects or known(entry.id)):
                _walk_file(read, type_of, entry.id, child, known, found)


def _walk_file(
    read: ReadRaw, type_of: TypeOf, oid: ObjectId, path: str, known: Known, found: Reachable
) -> None:
    """A file is a blob, or a chunk list whose chunks must be listed too."""
    kind = type_of(oid)
    if kind is None:
        found.missing.setdefault(oid, path)
        return
    found.add(oid, kind, path)
    if kind == ObjectType.CHUNKS:
        _, body = read(oid)
        # streamed, not decoded: a list repeating one chunk is a cheap bomb, and each
        # repeat costs one dict lookup here
        for chunk_id, _length in chunk_refs(body)[1]:
            if chunk_id in found.objects or known(chunk_id):
                continue
            if type_of(chunk_id) is None:
                found.missing.setdefault(chunk_id, path)
            else:
                found.add(chunk_id, ObjectType.BLOB, path)


def complete_commits(
    read_parents: Callable[[bytes], list[bytes] | None], tips: Iterable[bytes]
) -> set[bytes]:
    """Commits reachable from ``tips`` through parents, as far as ``read_parents`` can
    read them (it returns None for a commit it does not have)."""
    complete: set[bytes] = set()
    pending = [bytes(t) for t in tips]
    while pending:
        oid = pending.pop()
        if oid in complete:
            continue
        parents = read_parents(oid)
        if parents is None:
            continue
        complete.add(oid)
        pending.extend(parents)
    return complete
