"""Durable file-system primitives: every write in dvault goes through these.

The rule (docs/format.md, "Durability order"): data is fsynced before the name that makes
it visible, and the directory is fsynced after a rename, so a crash leaves either the old
or the new state.
"""

from __future__ import annotations

import contextlib
import errno
import os
from pathlib import Path
from typing import Any

from dvault.errors import StorageError


def fsync_dir(path: Path) -> None:
    """Make a rename or create inside ``path`` durable."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def temp_name(target: Path) -> Path:
    """A unique sibling name for staging a write to ``target`` (same file system)."""
    # os.urandom, not uuid4: the same random bits without importing uuid (and platform),
    # ~3 ms of every start-up (docs/performance.md, issue 23)
    return target.with_name(f".{target.name}.{os.urandom(6).hex()}.tmp")


def os_error(exc: OSError, action: str, path: Path | str) -> StorageError:
    """Turn an OSError into one line naming what failed and where."""
    reason = "no space left on device" if exc.errno == errno.ENOSPC else exc.strerror
    return StorageError(f"cannot {action} {path}: {reason}")


def write_durable(path: Path, data: bytes, *, exclusive: bool = False) -> None:
    """Write ``data`` to ``path`` atomically: temp file, fsync, rename, fsync directory.

    With ``exclusive`` the final name must not exist yet (create-only, used for tags):
    ``os.link`` fails atomically if it does, where ``rename`` would replace it.
    """
    tmp = temp_name(path)
    try:
        with open(tmp, "xb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        if exclusive:
            os.link(tmp, path)
            os.unlink(tmp)
        else:
            os.replace(tmp, path)
        fsync_dir(path.parent)
    except FileExistsError:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise os_error(exc, "write", path) from None


def append_durable(path: Path, line: bytes) -> None:
    """Append one record and fsync; a torn last line is tolerated by readers."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, line)
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError as exc:
        raise os_error(exc, "append to", path) from None


def sync_filesystem(path: Path) -> None:
    """Flush every dirty page of the file system holding ``path`` (Linux ``syncfs``).

    One call makes a whole batch of freshly written files durable, far cheaper than an
    fsync per file; where syncfs is unavailable, falls back to ``os.sync``.
    """
    import ctypes  # deferred: ~4 ms at start-up, needed only for syncfs and mincore

    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        # the process's own symbols include libc's (ctypes.util.find_library would run
        # ldconfig in a subprocess on every call: a fork of a large process)
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.syncfs(fd) != 0:
            os.sync()
    except (OSError, AttributeError):
        os.sync()
    finally:
        os.close(fd)


def pread_full(fd: int, offset: int, length: int) -> bytes:
    """``length`` bytes at ``offset``, fewer only at the end of the file."""
    data = os.pread(fd, length, offset)
    if len(data) == length or not data:
        return data
    parts = [data]
    got = len(data)
    while got < length and (more := os.pread(fd, length - got, offset + got)):
        parts.append(more)
        got += len(more)
    return b"".join(parts)


class FdReader:
    """A minimal unbuffered reader over an OS file descriptor.

    Reading 20k small files through ``open()`` costs a BufferedReader and a FileIO object
    each; this costs one ``os.read`` per file, sized by ``expected`` (from stat) so no
    oversized buffer is allocated and shrunk. ``readinto`` lets the chunker fill its
    buffer without copies.
    """

    def __init__(self, fd: int, expected: int = 1 << 20) -> None:
        self.fd = fd
        self.expected = expected

    def read(self, size: int = -1) -> bytes:
        if size >= 0:
            return os.read(self.fd, size)
        first = os.read(self.fd, self.expected + 1)
        if len(first) <= self.expected:
            return first
        parts = [first]  # the file grew since it was stat'ed: read to the end
        while part := os.read(self.fd, 1 << 20):
            parts.append(part)
        return b"".join(parts)

    def readinto(self, buffer: memoryview | bytearray) -> int:
        return os.readv(self.fd, [buffer])

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        return os.lseek(self.fd, offset, whence)

    def fileno(self) -> int:
        return self.fd


_MADV_DONTNEED = 4

MAPPED_BUDGET = 48 << 20
"""File-backed resident memory (LMDB maps, libraries) above which mapped index pages are
released: the memory a million-object index may cost a process, instead of all of it."""


def _file_backed_resident() -> int:
    """Bytes of file-backed and shared memory resident in this process (0 if unknown)."""
    try:
        with open("/proc/self/statm", "rb") as statm:
            return int(statm.read().split()[2]) * _PAGE_SIZE
    except (OSError, ValueError, IndexError):
        return 1 << 62  # cannot tell: release as before


_PAGE_SIZE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


class MappedFile:
    """Releases this process's page-table references to the read-only mappings of a
    file (an LMDB data file), keeping the pages in the kernel's page cache.

    LMDB reads through a shared mapping, so every page a lookup or a write touched stays
    counted in the process's resident set, and each fault maps its neighbours too (the
    kernel's fault-around: ~128 KiB per random lookup here): after indexing or looking
    up a million objects that is the whole file, hundreds of MB, in every process that
    touched it. The mapping is read-only (no ``writemap``), so dropping it loses nothing:
    the next access faults the page back in from the page cache. The mapping is found
    once (LMDB maps its file once, at a fixed address); Linux only, elsewhere a no-op.
    """

    def __init__(self, path: Path, every: int = 256, budget: int = MAPPED_BUDGET) -> None:
        self.path = path
        self.every = every
        self.budget = budget
        self._touches = 0
        self._ranges: list[tuple[int, int]] | None = None
        self._madvise: Any = None

    def touched(self, count: int = 1) -> None:
        """Note ``count`` random accesses; after every ``every`` of them, release if the
        process's file-backed resident memory has passed ``budget``.

        Releasing on a count alone (as before) re-faulted the whole lookup path every 256
        lookups: at ~5 µs a fault here, a push of a million objects spent 15 of its 31 s
        in the kernel. Checking the resident size first (one read of /proc/self/statm,
        ~10 µs) releases only when there is something worth releasing, so hot branch
        pages stay mapped between releases."""
        self._touches += count
        if self._touches >= self.every:
            self._touches = 0
            if _file_backed_resident() >= self.budget:
                self.release()

    def release(self) -> None:
        self._touches = 0
        if self._ranges is None:
            self._ranges = self._find()
        for start, length in self._ranges:
            self._madvise(start, length, _MADV_DONTNEED)

    def _find(self) -> list[tuple[int, int]]:
        import ctypes  # deferred: ~4 ms at start-up, needed only for syncfs and mincore

        try:
            with open("/proc/self/maps", "rb") as maps:
                lines = [line.split() for line in maps]
            self._madvise = ctypes.CDLL(None, use_errno=True).madvise
        except (OSError, AttributeError):
            return []
        self._madvise.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
        name = os.fsencode(self.path)
        ranges = []
        for fields in lines:
            if len(fields) >= 6 and fields[5] == name and fields[1][:2] == b"r-":
                start, end = (int(x, 16) for x in fields[0].split(b"-"))
                ranges.append((start, end - start))
        return ranges
