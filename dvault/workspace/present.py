"""What the work tree holds at a path, as the id a commit would record for it.

``dvault run --input PATH@REV`` compares this with REV's entry at PATH, so the lineage
records what the command could actually read, not what the user declared (issue 21).
Files whose stat data match their stage entry (or a remembered hash) are not read again,
as in ``status``; the rest are hashed on all cores. Nothing is stored.
"""

from __future__ import annotations

from collections.abc import Mapping

from dvault.hashing import ObjectId
from dvault.repository import Repository
from dvault.store.state import StageEntry
from dvault.treeobjects import MODE_DIR
from dvault.trees.build import build_from_sorted
from dvault.workspace.scan import load_ignore, walk
from dvault.workspace.status import hash_many


def present_entries(repo: Repository, rel: bytes) -> dict[bytes, StageEntry]:
    """Every file, symlink and empty directory at or under ``rel`` in the work tree, with
    its current content id."""
    found = walk(repo.root, rel, load_ignore(repo.root))
    staged = repo.state.stage_get_many(found)
    cache: dict[bytes, StageEntry] | None = None
    known: dict[bytes, StageEntry] = {}
    unknown = []
    for path, st in found.items():
        entry = staged.get(path)
        if entry is not None and entry.matches(st):
            known[path] = entry
            continue
        if cache is None:
            cache = repo.state.hash_cache()
        cached = cache.get(path)
        if cached is not None and cached.matches(st):
            known[path] = cached
        else:
            unknown.append((path, st))
    known.update(hash_many(repo.root, unknown))
    return known


def present_id(repo: Repository, rel: bytes) -> ObjectId | None:
    """The id the work tree's content at ``rel`` would have in a commit's tree (a blob's
    id for a file, a tree's for a directory); None when nothing is there."""
    return entries_id(present_entries(repo, rel), rel)


def entries_id(entries: Mapping[bytes, StageEntry], rel: bytes) -> ObjectId | None:
    """The id a commit's tree would give ``rel``, from the entries found at or under it
    (as :func:`present_entries` or ``status.hash_many`` return them); None when none."""
    if not entries:
        return None
    single = entries.get(rel)
    if single is not None and single.mode != MODE_DIR:
        return single.id
    prefix = rel + b"/"
    inner = sorted((p[len(prefix) :], e) for p, e in entries.items() if p.startswith(prefix))
    if not inner:  # an empty directory
        assert single is not None
        return single.id
    return build_from_sorted(inner, lambda _oid, _body: None)
