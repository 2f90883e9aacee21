"""``dvault redact``, local side: erase the contents of paths from every kept commit here.

Redaction keeps commit ids (docs/retention.md, "Erasure: dvault redact"): dvault.lock
pins, signatures and lineage all name commit ids, so no commit is rewritten. Instead the
objects that only the redacted files use — the blob, or the chunk list and every chunk no
other file of any kept commit shares — are recorded in ``.dvault/erased.json``
(store/erased.py) and then removed from the local packs the way gc removes garbage: the
packs that held them are rewritten without them (live objects copied to a new pack,
sealed and indexed first), then deleted. The order is crash-safe: record, then repack;
a kill in between leaves bytes a later ``redact`` or ``gc`` removes, never an absent
object that reads as damage.

An object another file shares is kept (erasing it would damage that file) and counted in
the report as shared, so the user learns that the same bytes live elsewhere.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field

from dvault import identity
from dvault.errors import UsageError
from dvault.fsutil import fsync_dir
from dvault.hashing import ObjectId, ObjectType
from dvault.maintenance.roots import live_roots
from dvault.objects import chunk_refs
from dvault.reachability import complete_commits
from dvault.repository import Repository
from dvault.store import erased
from dvault.store.pack import PackEntry, read_footer
from dvault.trees import EMPTY_TREE, lookup, read_tree

MAX_PATHS = 10_000


@dataclass
class RedactPlan:
    """What one redaction erases (nothing is changed until :func:`apply`)."""

    paths: list[str]
    commits: list[ObjectId] = field(default_factory=list)
    """Kept commits whose tree holds one of the paths (sorted by id)."""
    files: dict[str, set[ObjectId]] = field(default_factory=dict)
    """Each redacted leaf path and its objects in any commit (blob, or chunk list and
    chunks)."""
    objects: set[ObjectId] = field(default_factory=set)
    """Objects to erase: used by the redacted files and by no other file."""
    shared: set[ObjectId] = field(default_factory=set)
    """Objects of the redacted files that another file also uses (kept)."""
    removed_bytes: int = 0
    packs_rewritten: int = 0


def _clean(path: str) -> str:
    text = path.strip("/")
    parts = text.split("/")
    if not text or any(p in ("", ".", "..") for p in parts) or "\0" in text:
        raise UsageError(f"invalid path to redact: {path!r}")
    return text


def _file_objects(repo: Repository, oid: ObjectId) -> set[ObjectId]:
    """A file's objects: the blob, or the chunk list and its chunks (as far as held)."""
    found = {oid}
    if repo.store.type_of(oid) == ObjectType.CHUNKS:
        _, body = repo.store.get_raw(oid)
        found.update(ObjectId(bytes(c)) for c, _n in chunk_refs(body)[1])
    return found


def _kept_commits(
    repo: Repository, revs: list[str] | None, extra: tuple[bytes, ...] = ()
) -> set[ObjectId]:
    """Every commit here a ref, a reflog entry, the pin, ``extra`` (a remote's refs) —
    or, with ``revs``, those revisions — reaches through parents."""
    starts: list[bytes] = (
        [repo.resolve(r) for r in revs]
        if revs
        else [
            *live_roots(repo, None).values(),
            *extra,
        ]
    )

    def parents(oid: bytes) -> list[bytes] | None:
        if repo.store.type_of(oid) != ObjectType.COMMIT:
            return None
        return list(repo.read_commit(oid).parents)

    return {ObjectId(c) for c in complete_commits(parents, starts)}


def plan(
    repo: Repository, paths: list[str], revs: list[str] | None = None, extra: tuple[bytes, ...] = ()
) -> RedactPlan:
    """Find the kept commits holding ``paths`` (files or directories, project-relative)
    and the objects only those files use. Raises :class:`UsageError` when no kept
    commit holds any of them."""
    if not paths or len(paths) > MAX_PATHS:
        raise UsageError(f"give 1 to {MAX_PATHS} paths to redact")
    result = RedactPlan(paths=sorted({_clean(p) for p in paths}))
    store = repo.store
    targets = [p.encode("utf-8", "surrogateescape") for p in result.paths]
    stage_tree = repo.state.stage_tree()
    if stage_tree is not None:
        for target in targets:
            if lookup(store, stage_tree, target) is not None:
                name = target.decode("utf-8", "surrogateescape")
                raise UsageError(f"{name} is staged: remove it (dvault rm) and commit first")
    commits = _kept_commits(repo, revs, extra)
    every = _kept_commits(repo, None, extra) | commits
    hit: set[tuple[ObjectId, bytes]] = set()  # (commit, leaf path) redacted
    for commit_id in sorted(commits):
        tree = repo.read_commit(commit_id).tree
        held = False
        for target in targets:
            entry = lookup(store, tree, target)
            if entry is None:
                continue
            held = True
            for leaf, leaf_entry in _leaves(repo, target, entry.id, entry.is_dir):
                hit.add((commit_id, leaf))
                name = leaf.decode("utf-8", "surrogateescape")
                result.files.setdefault(name, set()).update(_file_objects(repo, leaf_entry))
        if held:
            result.commits.append(commit_id)
    if not result.commits:
        raise UsageError(f"no kept commit holds {', '.join(result.paths)}")
    wanted: set[ObjectId] = set().union(*result.files.values())
    others = _other_files(repo, every, hit)
    result.shared = wanted & others
    result.objects = wanted - others
    return result


def _leaves(
    repo: Repository, path: bytes, oid: ObjectId, is_dir: bool
) -> list[tuple[bytes, ObjectId]]:
    if not is_dir:
        return [(path, oid)]
    if oid == EMPTY_TREE:
        return []
    out: list[tuple[bytes, ObjectId]] = []
    for entry in read_tree(repo.store, oid).entries:
        out.extend(_leaves(repo, path + b"/" + entry.name, entry.id, entry.is_dir))
    return out


def _other_files(
    repo: Repository, commits: set[ObjectId], hit: set[tuple[ObjectId, bytes]]
) -> set[ObjectId]:
    """Every file object (and chunk) of every kept commit, except the redacted leaves.
    A subtree holding no redacted leaf is walked once, whatever commits share it."""
    redacted_dirs: dict[ObjectId, set[bytes]] = {}
    redacted_leaves: dict[ObjectId, set[bytes]] = {}
    for commit_id, leaf in hit:
        parts = leaf.split(b"/")
        dirs = redacted_dirs.setdefault(commit_id, set())
        dirs.update(b"/".join(parts[:i]) for i in range(len(parts)))
        redacted_leaves.setdefault(commit_id, set()).add(leaf)
    seen: set[ObjectId] = set()
    found: set[ObjectId] = set()
    for commit_id in commits:
        leaves = redacted_leaves.get(commit_id, set())
        prefixes = redacted_dirs.get(commit_id, set())
        stack = [(b"", repo.read_commit(commit_id).tree)]
        while stack:
            prefix, tree = stack.pop()
            if prefix not in prefixes:
                if tree in seen:
                    continue
                seen.add(tree)
            for entry in read_tree(repo.store, tree).entries:
                child = prefix + b"/" + entry.name if prefix else entry.name
                if entry.is_dir:
                    if entry.id != EMPTY_TREE:
                        stack.append((child, entry.id))
                elif child not in leaves and repo.store.type_of(entry.id) is not None:
                    found |= _file_objects(repo, entry.id)
    return found


def record_for(repo: Repository, result: RedactPlan, reason: str) -> erased.Redaction:
    """The record of ``result``: who (git's author identity), when, why, what."""
    return erased.Redaction(
        time_ns=time.time_ns(),
        user=identity.author(repo.config, repo.root),
        reason=reason,
        path_hashes=tuple(sorted(erased.path_hash(p) for p in result.files)),
        objects=frozenset(result.objects),
        commits=tuple(sorted(c.hex() for c in result.commits)),
    )


def apply(repo: Repository, result: RedactPlan, record: erased.Redaction) -> erased.Redaction:
    """Record the redaction in ``.dvault/erased.json``, then rewrite every local pack
    that holds an erased object without it (see the module docstring for the order)."""
    erased.add(repo.dir, record)
    _repack_without(repo, result)
    return record


def _repack_without(repo: Repository, result: RedactPlan) -> None:
    store = repo.store
    packs = store.pack_files()
    rewrite: dict[str, list[PackEntry]] = {}
    for name, path in sorted(packs.items()):
        entries = read_footer(path)
        if any(e.id in result.objects for e in entries):
            rewrite[name] = [e for e in entries if e.id not in result.objects]
            result.removed_bytes += sum(e.stored_len for e in entries if e.id in result.objects)
    if not rewrite:
        return
    if any(rewrite.values()):
        with store.writer(prefer=True) as writer:
            for name, keep in rewrite.items():
                with open(packs[name], "rb") as f:
                    for entry in keep:
                        f.seek(entry.offset)
                        stored = f.read(entry.stored_len)
                        writer.put_prepared(
                            entry.id, entry.type, entry.compression, stored, entry.raw_len
                        )
    # the kept copies are sealed and indexed; only now may the old packs go
    for name in rewrite:
        store.index.remove_pack(name)
        os.unlink(packs[name])
    fsync_dir(store.packs_dir)
    store.sync_packs()
    result.packs_rewritten = len(rewrite)


def validate_reason(reason: str) -> str:
    if not reason.strip():
        raise UsageError("--reason must say why (it is recorded with the redaction)")
    if len(reason) > erased.MAX_REASON:
        raise UsageError(f"--reason is longer than {erased.MAX_REASON} characters")
    return reason
