"""One file between the workspace and the store: read a path into the store, write an
object out beside its target.

These are the units of work that ``add`` and ``checkout`` run on threads and that the
worker processes of :mod:`dvault.workspace.parallel` run on all cores: they live here,
below both, so the commands and the workers import them without importing each other.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import uuid
from collections.abc import Iterable, Iterator
from concurrent.futures import Executor, ThreadPoolExecutor
from typing import TYPE_CHECKING

from dvault.chunking import CHUNK_THRESHOLD
from dvault.errors import CorruptObject, UsageError
from dvault.fsutil import FdReader, os_error
from dvault.hashing import ObjectId, ObjectType
from dvault.rechunk import previous_chunks
from dvault.store.appendfile import AppendFile
from dvault.store.state import FileStat, StageEntry, now_ns
from dvault.treeobjects import MODE_DIR, MODE_EXEC, MODE_LINK, TreeEntry
from dvault.trees import EMPTY_TREE
from dvault.workspace.safety import link_problem
from dvault.workspace.scan import CHECKOUT_TEMP_SUFFIX

if TYPE_CHECKING:
    from dvault.store.objectstore import ObjectStore, ObjectWriter


# -- into the store (add) -------------------------------------------------------------------


def store_path(
    root: bytes,
    writer: ObjectWriter,
    path: bytes,
    st: FileStat,
    cache: StageEntry | None,
    previous: ObjectId | None = None,
) -> StageEntry:
    """Store one workspace path's content and return its stage entry (``root`` is the
    project directory, fsencoded). ``previous`` is the id it was staged with: a large
    file is then cut only around its changes."""
    full = os.path.join(root, path)
    if st.mode == MODE_DIR:
        return StageEntry(MODE_DIR, 0, EMPTY_TREE).with_stat(st, now_ns())
    if st.mode == MODE_LINK:
        target = os.readlink(full)
        why = link_problem(path, target)
        if why is not None:  # writers never store what a checkout refuses to write
            raise UsageError(
                f"cannot store symlink {os.fsdecode(path)!r} -> {os.fsdecode(target)!r}: {why}, "
                "so no checkout could restore it; list it in .dvaultignore or make it relative"
            )
        return StageEntry(
            MODE_LINK, len(target), writer.put_raw(ObjectType.BLOB, target)
        ).with_stat(st, now_ns())
    if cache is not None and cache.matches(st) and writer.has(cache.id):
        return cache  # status already hashed it and the content is stored
    try:
        fd = os.open(full, os.O_RDONLY)
        try:
            earlier = previous_chunks(writer.store, previous) if st.size > CHUNK_THRESHOLD else None
            reader = FdReader(fd, st.size)
            oid, size = writer.put_file(reader, st.size, earlier)  # type: ignore[arg-type]
            after = FileStat.of(os.fstat(fd), st.mode)
        finally:
            os.close(fd)
    except OSError as exc:
        raise os_error(exc, "read", os.fsdecode(path)) from None
    entry = StageEntry(st.mode, size, oid)
    # A file written to while we read it keeps no stat data, so status re-reads it.
    return entry.with_stat(st if after == st and size == st.size else None, now_ns())


# -- out of the store (checkout) ------------------------------------------------------------

_TEMP_TOKEN = f"{os.getpid()}-{uuid.uuid4().hex[:6]}-".encode()
_temp_counter = itertools.count()


def _temp_for(full: bytes) -> bytes:
    """A unique hidden sibling name (no syscall: a per-process token and a counter)."""
    head, tail = os.path.split(full)
    unique = _TEMP_TOKEN + str(next(_temp_counter)).encode()
    return os.path.join(head, b"." + tail + b"." + unique + CHECKOUT_TEMP_SUFFIX)


def write_temp(
    store: ObjectStore, full: bytes, entry: TreeEntry, readers: Executor | None = None
) -> bytes:
    """Write ``entry``'s content next to ``full``; returns the temporary path.

    Every piece comes from the store already verified against its id. The mode is set at
    creation (0o666 or 0o777, less the umask, as git does), saving a chmod per file.
    ``readers`` (see :func:`reader_pool`) reads a chunked file's chunks ahead of its
    writing; without it they are read on this thread.
    """
    tmp = _temp_for(full)
    if entry.is_link:
        target = store.read_file_content(entry.id)
        os.symlink(target, tmp)
        return tmp
    mode = 0o777 if entry.mode == MODE_EXEC else 0o666
    if entry.size > CHUNK_THRESHOLD:
        _write_large(store, full, tmp, entry, mode, readers)
        return tmp
    written = 0
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, mode)
    try:
        for piece in store.iter_file_content(entry.id, entry.size):
            view = memoryview(piece)
            while view:
                done = os.write(fd, view)
                view = view[done:]
            written += len(piece)
        _check_size(full, entry, written)
    except BaseException:
        os.close(fd)
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    os.close(fd)
    return tmp


READERS = min(8, os.cpu_count() or 1)
"""Threads reading chunked files' chunks ahead of their writing (store.iter_file_content)."""


@contextlib.contextmanager
def reader_pool(entries: Iterable[TreeEntry | None]) -> Iterator[Executor | None]:
    """The threads that read ahead for the chunked files among ``entries``, one pool for
    a whole checkout (None when there are none): a pool per file cost 5-7 MiB more peak
    memory in the benchmark's v1 <-> v2 checkout, each new thread's malloc arena holding
    freed chunk buffers of its own, and bought no speed."""
    if not any(e is not None and e.size > CHUNK_THRESHOLD for e in entries):
        yield None
        return
    with ThreadPoolExecutor(READERS, thread_name_prefix="dvault-read") as pool:
        yield pool


def _write_large(
    store: ObjectStore,
    full: bytes,
    tmp: bytes,
    entry: TreeEntry,
    mode: int,
    readers: Executor | None,
) -> None:
    """A chunked file bypasses the page cache, like a pack (see store/appendfile): copying
    gigabytes into the cache costs more than decompressing them, and evicts what the
    user was working with. With ``readers``, its chunks are read, decompressed and
    hashed a few ahead on that pool while this thread writes: a 128 MiB checkpoint,
    alone on the critical path of a checkout, took 0.75 s read and written on one
    thread."""
    out = AppendFile(tmp, mode=mode)
    written = 0
    try:
        for piece in store.iter_file_content(entry.id, entry.size, readers):
            out.write(piece)
            written += len(piece)
        _check_size(full, entry, written)
        out.finish()
    except BaseException:
        out.close()
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _check_size(full: bytes, entry: TreeEntry, written: int) -> None:
    if written != entry.size:
        raise CorruptObject(
            f"{os.fsdecode(full)}: content is {written} bytes, tree says {entry.size}"
        )
