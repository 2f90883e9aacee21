"""A remote on a local or mounted directory (a NAS, a USB disk, another machine's share).

Create-only writes: the data goes to ``tmp/`` first, is fsynced, and is then hard-linked to
its final name; ``link`` fails if the name exists, where ``rename`` would replace it.
Final files are made read-only, so even a careless ``cp`` cannot overwrite them in place.
"""

from __future__ import annotations

import contextlib
import errno
import os
import uuid
from pathlib import Path

from dvault.fsutil import fsync_dir
from dvault.remote.backend import AlreadyExists, Backend, Progress, RemoteError, RemoteNotFound

_COPY_BLOCK = 8 << 20


def _copy(src: int, dst: int, progress: Progress | None) -> int:
    """Copy a whole file in the kernel (copy_file_range: no trip through user space, and
    a reflink on file systems that support one), reporting progress per block."""
    copied = 0
    while True:
        try:
            n = os.copy_file_range(src, dst, _COPY_BLOCK)
        except OSError as exc:  # e.g. EXDEV on old kernels: fall back to read/write
            if exc.errno not in (errno.EXDEV, errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP):
                raise
            n = os.write(dst, os.read(src, _COPY_BLOCK))
        if n == 0:
            return copied
        copied += n
        if progress is not None:
            progress(n)


class DirectoryBackend(Backend):
    def __init__(self, root: Path) -> None:
        self.root = root
        self.url = str(root)

    def _path(self, key: str) -> Path:
        if key.startswith("/") or ".." in key.split("/"):
            raise RemoteError(f"remote {self.url}: invalid key {key!r}")
        return self.root / key

    def _fail(self, exc: OSError, action: str, key: str) -> RemoteError:
        reason = "no space left on device" if exc.errno == errno.ENOSPC else exc.strerror
        return RemoteError(f"remote {self.url}: cannot {action} {key}: {reason}")

    def _publish(self, tmp: Path, key: str) -> None:
        final = self._path(key)
        try:
            final.parent.mkdir(parents=True, exist_ok=True)
            os.chmod(tmp, 0o444)
            os.link(tmp, final)
        except FileExistsError:
            raise AlreadyExists(f"remote {self.url}: {key} already exists") from None
        except OSError as exc:
            raise self._fail(exc, "create", key) from None
        finally:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
        fsync_dir(final.parent)

    def _tmp(self) -> Path:
        tmp_dir = self.root / "tmp"
        try:
            tmp_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise self._fail(exc, "write to", "tmp/") from None
        return tmp_dir / f"{uuid.uuid4().hex}.tmp"

    def create(self, key: str, data: bytes) -> None:
        if self._path(key).exists():
            raise AlreadyExists(f"remote {self.url}: {key} already exists")
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
            raise AlreadyExists(f"remote {self.url}: {key} already exists")
        tmp = self._tmp()
        try:
            with open(path, "rb") as src, open(tmp, "xb") as dst:
                written = _copy(src.fileno(), dst.fileno(), progress)
                os.fsync(dst.fileno())
            if written != path.stat().st_size or tmp.stat().st_size != written:
                raise RemoteError(f"remote {self.url}: short write of {key}")
        except OSError as exc:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise self._fail(exc, "upload", key) from None
        self._publish(tmp, key)

    def read(self, key: str) -> bytes:
        try:
            return self._path(key).read_bytes()
        except FileNotFoundError:
            raise RemoteNotFound(f"remote {self.url}: {key} is missing") from None
        except OSError as exc:
            raise self._fail(exc, "read", key) from None

    def read_range(self, key: str, offset: int, length: int) -> bytes:
        try:
            fd = os.open(self._path(key), os.O_RDONLY)
        except FileNotFoundError:
            raise RemoteNotFound(f"remote {self.url}: {key} is missing") from None
        except OSError as exc:
            raise self._fail(exc, "read", key) from None
        try:
            return os.pread(fd, length, offset)
        finally:
            os.close(fd)

    def download(self, key: str, dest: Path, progress: Progress | None = None) -> None:
        try:
            with open(self._path(key), "rb") as src, open(dest, "xb") as dst:
                _copy(src.fileno(), dst.fileno(), progress)
        except FileNotFoundError:
            raise RemoteNotFound(f"remote {self.url}: {key} is missing") from None
        except OSError as exc:
            raise self._fail(exc, "download", key) from None

    def list(self, prefix: str) -> dict[str, int]:
        base = self._path(prefix.rstrip("/")) if prefix else self.root
        found: dict[str, int] = {}
        if not base.is_dir():
            return found
        try:
            for dirpath, _dirs, files in os.walk(base):
                for name in files:
                    full = Path(dirpath) / name
                    key = full.relative_to(self.root).as_posix()
                    if not key.startswith("tmp/"):
                        found[key] = full.stat().st_size
        except OSError as exc:
            raise self._fail(exc, "list", prefix or "/") from None
        return found

    def size(self, key: str) -> int | None:
        try:
            return self._path(key).stat().st_size
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise self._fail(exc, "stat", key) from None
