"""``add``: store the current content of paths and record it in the stage.

Files are read, hashed, chunked and compressed on all cores; the main thread only walks
and bookkeeps. Files whose stat data still matches the stage are skipped without being
opened. The order is the durable one: objects are sealed into packs and indexed before
the stage that refers to them is written.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from stat import S_ISDIR, S_ISLNK, S_ISREG
from typing import TYPE_CHECKING

from dvault.errors import UsageError
from dvault.fsutil import FdReader, os_error
from dvault.hashing import ObjectId, ObjectType
from dvault.objects import MODE_DIR, MODE_LINK
from dvault.store.objectstore import ObjectWriter
from dvault.trees import EMPTY_TREE, EMPTY_TREE_BODY, build_from_stage, update_tree
from dvault.workspace.scan import load_ignore, scan_workspace, under
from dvault.workspace.state import FileStat, StageEntry, now_ns
from dvault.workspace.status import WORKERS

if TYPE_CHECKING:
    from dvault.repo import Repo

BATCH = 64
"""Files per worker task: large enough to amortise scheduling, small enough to balance."""

PROCESS_MIN_FILES = 1000
"""From this many files on, worker processes store them (see workspace/parallel.py).

Storing a small file is mostly Python bookkeeping around short C calls, so threads
serialise on the GIL (measured: 2 threads no faster than 1). Processes cost ~0.1 s to
start, worth it only for many files; fewer, larger files stay on threads, where hashing,
chunking and compression release the GIL."""


@dataclass
class StageReport:
    """What one ``add`` changed in the stage."""

    added: int = 0
    modified: int = 0
    deleted: int = 0
    unchanged: int = 0
    bytes_read: int = 0
    bytes_stored: int = 0


def store_path(
    root: bytes, writer: ObjectWriter, path: bytes, st: FileStat, cache: StageEntry | None
) -> StageEntry:
    """Store one workspace path's content and return its stage entry (``root`` is the
    project directory, fsencoded)."""
    full = os.path.join(root, path)
    if st.mode == MODE_DIR:
        return StageEntry(MODE_DIR, 0, EMPTY_TREE).with_stat(st, now_ns())
    if st.mode == MODE_LINK:
        target = os.readlink(full)
        return StageEntry(
            MODE_LINK, len(target), writer.put_raw(ObjectType.BLOB, target)
        ).with_stat(st, now_ns())
    if cache is not None and cache.matches(st) and writer.has(cache.id):
        return cache  # status already hashed it and the content is stored
    try:
        fd = os.open(full, os.O_RDONLY)
        try:
            oid, size = writer.put_file(FdReader(fd, st.size), st.size)  # type: ignore[arg-type]
            after = FileStat.of(os.fstat(fd), st.mode)
        finally:
            os.close(fd)
    except OSError as exc:
        raise os_error(exc, "read", os.fsdecode(path)) from None
    entry = StageEntry(st.mode, size, oid)
    # A file written to while we read it keeps no stat data, so status re-reads it.
    return entry.with_stat(st if after == st and size == st.size else None, now_ns())


def stage_paths(repo: Repo, scopes: Iterable[bytes], desc: str = "add") -> StageReport:
    """Make the stage match the workspace under each scope (files, deletions, empty dirs)."""
    scopes = list(scopes)
    state = repo.state
    base = os.fsencode(repo.root)
    for scope in scopes:
        if not _is_data(os.path.join(base, scope)) and not state.staged_under(scope):
            raise UsageError(f"path {os.fsdecode(scope)!r} did not match any files")
    # only paths whose stat no longer proves their staged content (and new ones) come back
    suspects, untracked, deletions, compared = scan_workspace(
        repo.root, scopes, load_ignore(repo.root), state, WORKERS
    )
    todo = suspects + untracked
    report = StageReport()
    sparse = state.sparse()
    if sparse is not None:  # a partial clone: paths outside its scopes are not deleted
        deletions = [p for p in deletions if any(under(p, s) for s in sparse)]
    report.unchanged = compared - len(suspects) - len(deletions)
    cache = state.hash_cache() if todo else {}

    updates: dict[bytes, StageEntry] = {}
    total = sum(st.size for _, st in todo)
    root = os.fsencode(repo.root)
    with repo.store.writer() as writer, repo.progress(desc, total) as tick:
        if len(todo) >= PROCESS_MIN_FILES and WORKERS > 1:
            from dvault.workspace.parallel import store_in_processes

            done, stored = store_in_processes(repo, todo, cache, tick)
            updates.update(done)
            writer.bytes_written += stored
        else:

            def run(batch: list[tuple[bytes, FileStat]]) -> list[tuple[bytes, StageEntry]]:
                done = [(p, store_path(root, writer, p, st, cache.get(p))) for p, st in batch]
                tick(sum(st.size for _, st in batch))
                return done

            batches = [todo[i : i + BATCH] for i in range(0, len(todo), BATCH)]
            with ThreadPoolExecutor(WORKERS) as pool:
                for batch_done in pool.map(run, batches):
                    updates.update(batch_done)
        before = state.stage_get_many(updates)  # only what changed, not the whole stage
        for path, entry in updates.items():
            old = before.get(path)
            if old is None:
                report.added += 1
            elif not old.same_content(entry):
                report.modified += 1
            report.bytes_read += entry.size if entry.mode != MODE_DIR else 0
        report.deleted = len(deletions)
        edits: dict[bytes, StageEntry | None] = {**updates, **dict.fromkeys(deletions)}

        def stage_after() -> dict[bytes, StageEntry]:
            """The whole stage with the edits applied: only when no stage tree can be
            updated in place (the first add, or a damaged stage tree)."""
            stage = state.stage()
            stage.update(updates)
            for path in deletions:
                del stage[path]
            return stage

        tree = write_stage_trees(writer, stage_after, state.stage_tree(), edits)
        report.bytes_stored = writer.bytes_written
    # packs are sealed and indexed (writer closed) before the stage refers to them
    state.update_stage(put=updates.items(), delete=deletions, tree=tree)
    return report


def _is_data(full: bytes) -> bool:
    """True for what a scan records: a file, a symlink or a directory."""
    try:
        mode = os.lstat(full).st_mode
    except (FileNotFoundError, NotADirectoryError):
        return False
    return S_ISDIR(mode) or S_ISREG(mode) or S_ISLNK(mode)


def write_stage_trees(
    writer: ObjectWriter,
    stage: Callable[[], Mapping[bytes, StageEntry]],
    base: ObjectId | None = None,
    edits: Mapping[bytes, StageEntry | None] | None = None,
) -> ObjectId:
    """Store the Merkle tree of the stage (only trees not stored yet) and return its root.

    Given ``base``, the tree of the stage before ``edits`` (path -> new entry, or None
    for a removed path) were applied to it, only the directories and shards on the way to
    an edit are rebuilt (trees.update_tree); otherwise, or if ``base`` cannot be read,
    every tree is built from the whole stage (``stage()``, called only then)."""
    from dvault.errors import CorruptObject, CorruptPack, MissingObject

    trees = None
    if base is not None and edits is not None:
        try:
            root, trees = update_tree(writer.store, base, edits)
        except (MissingObject, CorruptObject, CorruptPack):
            trees = None  # a damaged or collected stage tree: start from the stage itself
    if trees is None:
        root, trees = build_from_stage(stage())
    # empty directories point at the empty tree: store it like any other referenced object
    trees.append((EMPTY_TREE, EMPTY_TREE_BODY))
    for oid, body in trees:
        if not writer.has(oid):
            writer.put_raw(ObjectType.TREE, body)
    return root
