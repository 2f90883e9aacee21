"""A remote on a local or mounted directory (a NAS, a USB disk, another machine's share).

Create-only writes: the data goes to ``tmp/`` first, is fsynced, and is then hard-linked to
its final name; ``link`` fails if the name exists, where ``rename`` would replace it.
Final files are made read-only, so even a careless ``cp`` cannot overwrite them in place.

Whoever can create files there can create anything: reads open with ``O_NOFOLLOW |
O_NONBLOCK`` and serve regular files only (a symlink is not followed, a FIFO cannot hang
the client, a device is not read), never more than the caller's limit; listings report
regular files only.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
import uuid
from collections.abc import Iterator
from pathlib import Path

from blake3 import blake3

from dvault.fsutil import fsync_dir
from dvault.remote.backend import AlreadyExists, Backend, Progress, RemoteError, RemoteNotFound

_COPY_BLOCK = 8 << 20


def _copy(src: int, dst: int, progress: Progress | None, limit: int | None = None) -> int:
    """Copy a whole file in the kernel (copy_file_range: no trip through user space, and
    a reflink on file systems that support one), reporting progress per block; at most
    ``limit`` bytes."""
    copied = 0
    while limit is None or copied < limit:
        block = _COPY_BLOCK if limit is None else min(_COPY_BLOCK, limit - copied)
        try:
            n = os.copy_file_range(src, dst, block)
        except OSError as exc:  # e.g. EXDEV on old kernels: fall back to read/write
            if exc.errno not in (errno.EXDEV, errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP):
                raise
            n = os.write(dst, os.read(src, block))
        if n == 0:
            return copied
        copied += n
        if progress is not None:
            progress(n)
    return copied


class DirectoryBackend(Backend):
    def __init__(self, root: Path) -> None:
        self.root = root
        self.url = str(root)

    def lock(self) -> str:
        return (
            "a directory: dvault writes its files read-only and never deletes, but there "
            "is no retention lock (whoever can write to the directory can delete)"
        )

    def _path(self, key: str) -> Path:
        if key.startswith("/") or ".." in key.split("/"):
            raise RemoteError(f"remote {self.where}: invalid key {key!r}")
        return self.root / key

    def gone(self) -> RemoteError | None:
        """The error to raise when the remote's directory is not there (unmounted,
        removed): a remote is never recreated by writing to it (``dvault remote init``
        does that, on purpose)."""
        if self.root.is_dir():
            return None
        return RemoteError(
            f"remote {self.where}: the directory is not there (not mounted, or removed?); "
            "nothing was read or written"
        )

    def _fail(self, exc: OSError, action: str, key: str) -> RemoteError:
        reason = "no space left on device" if exc.errno == errno.ENOSPC else exc.strerror
        return RemoteError(f"remote {self.where}: cannot {action} {key}: {reason}")

    def _publish(self, tmp: Path, key: str) -> None:
        final = self._path(key)
        try:
            final.parent.mkdir(parents=True, exist_ok=True)
            os.chmod(tmp, 0o444)
            os.link(tmp, final)
        except FileExistsError:
            raise AlreadyExists(f"remote {self.where}: {key} already exists") from None
        except OSError as exc:
            raise self._fail(exc, "create", key) from None
        finally:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
        fsync_dir(final.parent)

    def _tmp(self) -> Path:
        if (gone := self.gone()) is not None:
            raise gone
        tmp_dir = self.root / "tmp"
        try:
            tmp_dir.mkdir(exist_ok=True)
        except OSError as exc:
            raise self._fail(exc, "write to", "tmp/") from None
        return tmp_dir / f"{uuid.uuid4().hex}.tmp"

    def create(self, key: str, data: bytes) -> None:
        if self._path(key).exists():
            raise AlreadyExists(f"remote {self.where}: {key} already exists")
        tmp = self._tmp()
        try:
            with open(tmp, "xb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
        except OSError as exc:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise self._fail(exc, "write", key) from None
        self._publish(tmp, key)

    def upload(self, key: str, path: Path, progress: Progress | None = None) -> None:
        if self._path(key).exists():
            raise AlreadyExists(f"remote {self.where}: {key} already exists")
        tmp = self._tmp()
        try:
            with open(path, "rb") as src, open(tmp, "xb") as dst:
                written = _copy(src.fileno(), dst.fileno(), progress)
                os.fsync(dst.fileno())
            if written != path.stat().st_size or tmp.stat().st_size != written:
                raise RemoteError(f"remote {self.where}: short write of {key}")
        except OSError as exc:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise self._fail(exc, "upload", key) from None
        self._publish(tmp, key)

    @contextlib.contextmanager
    def _open(self, key: str, limit: int | None) -> Iterator[tuple[int, int]]:
        """An fd of the regular file ``key`` and its size, checked against ``limit``.

        ``O_NOFOLLOW`` refuses a symlink in the last component and ``O_NONBLOCK`` makes
        opening a FIFO return at once (it is then refused as not a regular file)."""
        flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
        try:
            fd = os.open(self._path(key), flags)
        except FileNotFoundError:
            if (gone := self.gone()) is not None:
                raise gone from None
            raise RemoteNotFound(f"remote {self.where}: {key} is missing") from None
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                raise RemoteError(f"remote {self.where}: {key} is a symlink; not read") from None
            raise self._fail(exc, "read", key) from None
        try:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode):
                raise RemoteError(f"remote {self.where}: {key} is not a regular file; not read")
            if limit is not None and st.st_size > limit:
                raise self.too_large(key, st.st_size, limit)
            yield fd, st.st_size
        finally:
            os.close(fd)

    def read(self, key: str, limit: int) -> bytes:
        with self._open(key, limit) as (fd, size):
            parts = []
            have = 0
            try:
                while have <= size:  # one byte past the size: a file still growing is refused
                    piece = os.pread(fd, min(size + 1 - have, 8 << 20), have)
                    if not piece:
                        break
                    parts.append(piece)
                    have += len(piece)
            except OSError as exc:
                raise self._fail(exc, "read", key) from None
        if have > limit:
            raise self.too_large(key, f"at least {have}", limit)
        return b"".join(parts)

    def read_range(self, key: str, offset: int, length: int) -> bytes:
        with self._open(key, None) as (fd, _size):
            try:
                return os.pread(fd, max(0, length), offset)
            except OSError as exc:
                raise self._fail(exc, "read", key) from None

    def download(
        self, key: str, dest: Path, progress: Progress | None = None, *, limit: int
    ) -> None:
        with self._open(key, limit) as (fd, size):
            try:
                with open(dest, "xb") as dst:
                    copied = _copy(fd, dst.fileno(), progress, size + 1)
            except OSError as exc:
                raise self._fail(exc, "download", key) from None
        if copied > limit:
            raise self.too_large(key, f"at least {copied}", limit)

    def same_as(self, key: str, local: Path) -> bool | None:
        """Compare digests of the two files (a local read on both sides: no transfer)."""
        size = local.stat().st_size
        digests = []
        try:
            with self._open(key, size) as (fd, _size), open(local, "rb") as mine:
                for source in (fd, mine.fileno()):
                    digest, offset = blake3(), 0
                    while block := os.pread(source, 8 << 20, offset):
                        digest.update(block)
                        offset += len(block)
                    digests.append(digest.digest())
        except RemoteError:  # missing, larger, not a regular file: not the same
            return False
        except OSError as exc:
            raise self._fail(exc, "read", key) from None
        return digests[0] == digests[1]

    def _files(self, base: Path) -> Iterator[tuple[str, int]]:
        """(key, size) of every regular file under ``base``; symlinks, FIFOs, devices and
        sockets are not files of a remote (not followed into, not reported)."""
        pending = [base]
        while pending:
            with os.scandir(pending.pop()) as entries:
                for entry in entries:
                    if entry.is_dir(follow_symlinks=False):
                        pending.append(Path(entry.path))
                    elif entry.is_file(follow_symlinks=False):
                        key = Path(entry.path).relative_to(self.root).as_posix()
                        yield key, entry.stat(follow_symlinks=False).st_size

    def list(self, prefix: str) -> dict[str, int]:
        base = self._path(prefix.rstrip("/")) if prefix else self.root
        found: dict[str, int] = {}
        try:
            # the remote's own path may be a symlink (to a mount); nothing below it is
            st = os.lstat(base) if prefix.rstrip("/") else os.stat(base)
            if not stat.S_ISDIR(st.st_mode):
                return found
            for key, size in self._files(base):
                if not key.startswith("tmp/"):
                    found[key] = size
        except FileNotFoundError:
            if (gone := self.gone()) is not None:
                raise gone from None
            return found
        except OSError as exc:
            raise self._fail(exc, "list", prefix or "/") from None
        return found

    def size(self, key: str) -> int | None:
        try:
            st = os.lstat(self._path(key))
        except FileNotFoundError:
            if (gone := self.gone()) is not None:
                raise gone from None
            return None
        except OSError as exc:
            raise self._fail(exc, "stat", key) from None
        return st.st_size if stat.S_ISREG(st.st_mode) else None
