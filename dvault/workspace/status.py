"""Compare the workspace with the stage and the stage with HEAD.

Unchanged files are recognised by their stat data alone; only files whose stat changed
are read and hashed (in parallel), and their ids are remembered in the hash cache.
Staged changes come from a Merkle diff of the stage's tree against HEAD's tree, which
costs nothing when they are equal.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dvault.chunking import CHUNK_THRESHOLD
from dvault.content import ChunkHasher, hash_each, hash_on, hash_stream
from dvault.errors import DvaultError
from dvault.hashing import ObjectId, ObjectType, object_id
from dvault.rechunk import previous_chunks
from dvault.repository import Repository
from dvault.store.state import FileStat, StageEntry, now_ns
from dvault.treeobjects import MODE_DIR, MODE_LINK
from dvault.workspace import lostfound, mergestate
from dvault.workspace.lostfound import LostEntry
from dvault.workspace.scan import in_scopes, load_ignore, scan_workspace

if TYPE_CHECKING:
    from dvault.objects import ChunkList
    from dvault.trees import Change

WORKERS = max(2, min(8, os.cpu_count() or 2))
CHUNKS_AHEAD = 8
"""Chunks a large file's hashing runs ahead of its cutting, per worker."""


Previous = Callable[[bytes], "ChunkList | None"]
"""A path's last stored chunk list, if it has one (see :mod:`dvault.rechunk`)."""


def no_previous(_path: bytes) -> ChunkList | None:
    return None


def read_entry(
    project: Path,
    path: bytes,
    st: FileStat,
    hash_chunks: ChunkHasher = hash_each,
    previous: Previous = no_previous,
) -> StageEntry:
    """Hash one workspace path (file, symlink or empty directory) into a stage entry;
    a chunked file's chunks with ``hash_chunks``, along its ``previous`` chunks."""
    full = os.path.join(os.fsencode(project), path)
    if st.mode == MODE_DIR:
        from dvault.trees import EMPTY_TREE  # deferred: start-up, as in compute_status

        return StageEntry(MODE_DIR, 0, EMPTY_TREE).with_stat(st, now_ns())
    if st.mode == MODE_LINK:
        target = os.readlink(full)
        oid, size = object_id(ObjectType.BLOB, target), len(target)
    else:
        earlier = previous(path) if st.size > CHUNK_THRESHOLD else None
        with open(full, "rb") as f:
            oid, size = hash_stream(f, st.size, hash_chunks, earlier)
    return StageEntry(st.mode, size, oid).with_stat(st, now_ns())


def hash_many(
    project: Path, items: list[tuple[bytes, FileStat]], previous: Previous = no_previous
) -> dict[bytes, StageEntry]:
    """Hash several paths on all cores (blake3 and file reads release the GIL).

    Files are spread over threads; a large file's chunks are also hashed on a pool while
    its thread cuts them, so one changed checkpoint does not run on one core. A large
    file with ``previous`` chunks is cut only around its changes."""
    large = any(
        st.size > CHUNK_THRESHOLD and st.mode not in (MODE_DIR, MODE_LINK) for _, st in items
    )
    if len(items) <= 1 and not large:
        return {p: read_entry(project, p, st, previous=previous) for p, st in items}
    # deferred: concurrent.futures imports logging, ~6 ms that most statuses never need
    from concurrent.futures import ThreadPoolExecutor

    # a pool starts its threads only when work is submitted: ``chunks`` costs nothing unused
    with ThreadPoolExecutor(WORKERS) as files, ThreadPoolExecutor(WORKERS) as chunks:
        hasher = hash_on(chunks, WORKERS * CHUNKS_AHEAD) if large else hash_each

        def entry(item: tuple[bytes, FileStat]) -> tuple[bytes, StageEntry]:
            path, st = item
            return path, read_entry(project, path, st, hasher, previous)

        return dict(files.map(entry, items))


@dataclass
class Status:
    """What ``dvault status`` reports. Paths are project-relative bytes."""

    branch: str | None
    head: ObjectId | None
    staged: list[Change] = field(default_factory=list)
    modified: list[bytes] = field(default_factory=list)
    deleted: list[bytes] = field(default_factory=list)
    untracked: list[bytes] = field(default_factory=list)
    merging: str | None = None
    """The revision being merged while a merge stopped on conflicts is in progress."""
    unmerged: list[bytes] = field(default_factory=list)
    """Conflicting paths of that merge not resolved yet."""
    workspace: dict[bytes, StageEntry] = field(default_factory=dict)
    """Current content of every modified path (for diff and checkout)."""
    detached_at: str | None = None
    """A tag naming the commit a detached HEAD is at (``HEAD detached at v1``)."""
    new_dirs: dict[bytes, int] = field(default_factory=dict)
    """Each topmost directory with nothing staged under it, by its count of new files: one
    line in ``status`` (``data/images/ (240 new files)``) unless asked for every file."""
    lost_found: list[LostEntry] = field(default_factory=list)
    """Copies a forced checkout kept in ``.dvault/lost+found`` (not part of clean)."""

    @property
    def clean(self) -> bool:
        return not (self.staged or self.modified or self.deleted or self.untracked or self.merging)

    def dirty_paths(self) -> set[bytes]:
        paths = {c.path for c in self.staged}
        paths.update(self.modified, self.deleted, self.untracked)
        return paths

    def to_json(self) -> dict[str, Any]:
        def text(paths: Iterable[bytes]) -> list[str]:
            return [os.fsdecode(p) for p in paths]

        return {
            "branch": self.branch,
            "head": self.head.hex() if self.head else None,
            "clean": self.clean,
            "staged": [{"path": os.fsdecode(c.path), "status": c.status} for c in self.staged],
            "modified": text(self.modified),
            "deleted": text(self.deleted),
            "untracked": text(self.untracked),
            "merging": self.merging,
            "unmerged": text(self.unmerged),
            "lost_found": [
                {"path": f".dvault/lost+found/{e.name}", "files": e.files, "when": e.when}
                for e in self.lost_found
            ],
        }


def _best_effort(write: Callable[[], None]) -> None:
    """Status only reads the repository; its cache writes are an optimisation, so one that
    fails (a full disk) is skipped: status must still answer."""
    import lmdb  # deferred: lmdb (third-party) is loaded by the state when status opens it

    with contextlib.suppress(lmdb.Error):
        write()


def compute_status(repo: Repository) -> Status:
    state = repo.state
    branch, head = repo.refs.head()
    status = Status(branch, head)
    head_tree = None
    if head is not None:
        head_tree = state.head_tree(head)
        if head_tree is None:
            head_tree = repo.read_commit(head).tree
            _best_effort(lambda: state.set_head_tree(head, head_tree))
    stage_tree = state.stage_tree()
    if stage_tree != head_tree and (stage_tree or head_tree):
        # deferred: start-up; the trees (~2 ms to import) only when the stage moved
        from dvault.trees import diff_trees

        status.staged = list(diff_trees(repo.store, head_tree, stage_tree))

    roots = [os.fsencode(r) for r in state.roots()]
    suspects, untracked, status.deleted, _ = scan_workspace(
        repo.root, roots, load_ignore(repo.root), state, WORKERS
    )
    status.untracked = [path for path, _ in untracked]
    sparse = state.sparse()
    if sparse is not None:  # a partial clone: paths outside its scopes are not missing
        status.deleted = [p for p in status.deleted if in_scopes(p, sparse)]
    if suspects:
        staged = {path: state.stage_get(path) for path, _ in suspects}
        cache = state.hash_cache()
        unknown = []
        for path, st in suspects:
            cached = cache.get(path)
            if cached is not None and cached.matches(st):
                status.workspace[path] = cached
            else:
                unknown.append((path, st))

        def stored_chunks(path: bytes) -> ChunkList | None:
            entry = staged[path]
            return previous_chunks(repo.store, entry.id if entry else None)

        fresh = hash_many(repo.root, unknown, stored_chunks)
        status.workspace.update(fresh)
        refreshed = []
        remembered = []
        for path, current in fresh.items():
            if current.same_content(staged[path]):
                refreshed.append((path, current))
            else:
                remembered.append((path, current))
        if refreshed:
            _best_effort(lambda: state.refresh_stat(refreshed))
        if remembered:
            _best_effort(lambda: state.remember_hashes(remembered))
        for path, current in status.workspace.items():
            if not current.same_content(staged[path]):
                status.modified.append(path)
    status.new_dirs = new_directories(status.untracked, state.staged_under)
    if branch is None and head is not None:
        status.detached_at = tag_at(repo, head)
    merge = mergestate.load(repo)
    if merge is not None:
        status.merging = merge.rev
        status.unmerged = mergestate.unresolved(repo, merge)
    status.lost_found = lostfound.entries(repo)
    status.modified.sort()
    status.deleted.sort()
    status.untracked.sort()
    return status


def new_directories(
    untracked: list[bytes], staged_under: Callable[[bytes], bool]
) -> dict[bytes, int]:
    """The topmost directory of each new file that has nothing staged under it (git shows
    such a directory as ``dir/``), with the number of new files in it."""
    found: dict[bytes, int] = {}
    empty: dict[bytes, bool] = {}  # directory -> nothing staged under it
    for path in untracked:
        parts = path.split(b"/")[:-1]
        for i in range(1, len(parts) + 1):
            folder = b"/".join(parts[:i])
            if folder not in empty:
                empty[folder] = not staged_under(folder)
            if empty[folder]:
                found[folder] = found.get(folder, 0) + 1
                break
    return found


def tag_at(repo: Repository, head: ObjectId) -> str | None:
    """The first tag, by name, that names ``head`` (a damaged tag is skipped)."""
    from dvault.revisions import peel  # deferred: start-up, only a detached HEAD needs it

    for name, oid in sorted(repo.refs.tags().items()):
        with contextlib.suppress(DvaultError):
            if peel(repo, oid, name) == head:
                return name
    return None
