"""Reading history: the log walk, the names that decorate it, and diff.

Named for the command it serves: ``dvault.history`` is the lane drawer of
``log --graph`` (a base-floor module that knows nothing of commits), and the walk that
feeds it lives here, over the repository. :class:`LogEntry` is public (``dvault.LogEntry``),
so this module stays light: ``dvault.repo`` imports it on every start.
"""

from __future__ import annotations

import contextlib
import heapq
import os
from collections.abc import Iterator
from dataclasses import dataclass

from dvault.commitobjects import Commit
from dvault.errors import DvaultError
from dvault.hashing import ObjectId
from dvault.refs import TAGS
from dvault.repository import Repository
from dvault.revisions import peel
from dvault.treeobjects import TreeEntry
from dvault.trees import Change, diff_entries, flatten, lookup
from dvault.workspace.scan import under
from dvault.workspace.status import compute_status


@dataclass(frozen=True)
class LogEntry:
    """One commit of a log: its id, the commit, and the refs pointing at it."""

    id: ObjectId
    commit: Commit
    refs: tuple[str, ...] = ()


REMOTES = "refs/remotes/"


def remote_tracking(repo: Repository) -> dict[str, ObjectId]:
    """The remote-tracking refs fetch and push recorded, as ``REMOTE/BRANCH`` -> id
    (``refs/remotes/REMOTE/BRANCH``: where that remote's branch was when last seen)."""
    good, _damaged = repo.refs.scan()  # a damaged ref is verify's to report
    return {ref[len(REMOTES) :]: oid for ref, oid in good.items() if ref.startswith(REMOTES)}


def log(
    repo: Repository,
    rev: str | None = None,
    paths: list[str] | None = None,
    all_refs: bool = False,
) -> Iterator[LogEntry]:
    """Commits reachable from ``rev`` (default HEAD), newest first; ``all_refs``: also
    from every branch, tag and remote-tracking ref (``log --all``); with ``paths``, only
    those that changed one of them against their first parent."""
    starts: set[ObjectId] = set()
    if rev is None:
        _, head = repo.refs.head()
        if head is not None:
            starts.add(head)
    else:
        starts.add(repo.resolve(rev))
    if all_refs:
        tips = [*repo.refs.branches().items(), *remote_tracking(repo).items()]
        tips += [(TAGS + name, oid) for name, oid in repo.refs.tags().items()]
        for name, oid in tips:
            with contextlib.suppress(DvaultError):  # a tag of a tree is no history
                starts.add(peel(repo, oid, name))
    if not starts:
        return
    names = decorations(repo, remotes=all_refs)
    rels = [repo.relpath(p) for p in paths or []]
    seen = set(starts)
    queue = [(-repo.read_commit(s).time_ns, s) for s in starts]
    heapq.heapify(queue)
    while queue:
        _, oid = heapq.heappop(queue)
        commit = repo.read_commit(oid)
        for parent in commit.parents:
            if parent not in seen:
                seen.add(parent)
                heapq.heappush(queue, (-repo.read_commit(parent).time_ns, parent))
        if rels:
            before = repo.read_commit(commit.parents[0]).tree if commit.parents else None

            def at(tree: bytes | None, rel: bytes) -> tuple[int, ObjectId] | None:
                entry = lookup(repo.store, tree, rel) if tree else None
                return (entry.mode, entry.id) if entry else None

            if all(at(before, r) == at(commit.tree, r) for r in rels):
                continue
        yield LogEntry(oid, commit, tuple(names.get(oid, ())))


def decorations(repo: Repository, remotes: bool = False) -> dict[ObjectId, list[str]]:
    """Names pointing at each commit, for log output (HEAD, branches, tags; with
    ``remotes`` the remote-tracking refs too, as ``origin/main``)."""
    names: dict[ObjectId, list[str]] = {}
    branch, head = repo.refs.head()
    if head is not None:
        names.setdefault(head, []).append(f"HEAD -> {branch}" if branch else "HEAD")
    for name, oid in repo.refs.branches().items():
        if name != branch:
            names.setdefault(oid, []).append(name)
    for name, oid in remote_tracking(repo).items() if remotes else ():
        names.setdefault(oid, []).append(name)
    for name, oid in repo.refs.tags().items():
        with contextlib.suppress(DvaultError):
            names.setdefault(peel(repo, oid, name), []).append(f"tag: {name}")
    return names


def diff(
    repo: Repository,
    old: str | None = None,
    new: str | None = None,
    paths: list[str] | None = None,
) -> list[Change]:
    """Changes between two revisions, or from a revision (default HEAD) to the workspace."""
    if new is None:
        return _diff_workspace(repo, old, paths)
    a_tree = repo.read_commit(repo.resolve(old or "HEAD")).tree
    b_tree = repo.read_commit(repo.resolve(new)).tree
    rels = [repo.relpath(p) for p in paths] if paths else [b""]
    changes: list[Change] = []
    for rel in rels:
        a = lookup(repo.store, a_tree, rel)
        b = lookup(repo.store, b_tree, rel)
        changes.extend(diff_entries(repo.store, rel, a, b))
    return changes


def _diff_workspace(repo: Repository, old: str | None, paths: list[str] | None) -> list[Change]:
    """From ``old`` (default HEAD, or nothing before the first commit) to what is on disk
    now: the stage, then the workspace's modifications, deletions and untracked files."""
    _, head = repo.refs.head()
    base_rev = old if old is not None else ("HEAD" if head else None)
    base = flatten(repo.store, repo.read_commit(repo.resolve(base_rev)).tree) if base_rev else {}
    now = compute_status(repo)  # ops.tracking.status, without loading add's and rm's modules
    current = {
        p: TreeEntry(p.rpartition(b"/")[2], e.mode, e.size, e.id)
        for p, e in repo.state.stage().items()
    }
    for p in now.deleted:
        current.pop(p, None)
    for p, e in now.workspace.items():
        current[p] = TreeEntry(p.rpartition(b"/")[2], e.mode, e.size, e.id)
    untracked = set(now.untracked)
    rels = [repo.relpath(p) for p in paths] if paths else [b""]
    changes = []
    for p in sorted(base.keys() | current.keys() | untracked):
        if not any(under(p, r) for r in rels):
            continue
        a, b = base.get(p), current.get(p)
        if p in untracked:
            st = os.lstat(os.path.join(os.fsencode(repo.root), p))
            new = TreeEntry(p.rpartition(b"/")[2], 0o100644, st.st_size, ObjectId(b""))
            changes.append(Change(p, a, new))
        elif a is None or b is None or a.id != b.id or a.mode != b.mode:
            changes.append(Change(p, a, b))
    return changes
