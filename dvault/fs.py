"""``dvault://``: an fsspec filesystem over versions, so pandas, pyarrow, Dask and PyTorch
datasets read a version directly.

A URL is a project-relative path, ``dvault://data/labels.csv``; where and which version
are storage options: ``repo`` (a project path), ``remote`` (a remote name of that
project, or a remote URL on its own), ``rev`` (default ``HEAD``), and for S3 remotes
``endpoint``, ``region``, ``profile``::

    pd.read_csv("dvault://data/labels.csv", storage_options={"repo": "/proj", "rev": "v1"})

The revision is not part of the URL because revision names contain ``/`` and paths may
contain ``@`` or ``?``: any way of packing both into one string would misread some of
them. ``open``, ``ls``, ``info`` and ``cat`` also take ``rev=`` per call.

Read-only: writes raise :class:`~dvault.ReadOnly`. An instance resolves each revision
once (``main`` stays what it was when first read, so one training run sees one version);
:meth:`DvaultFileSystem.invalidate_cache` picks up new commits and pushes. Importing this
module imports fsspec, so nothing in dvault imports it except through the entry point
(``fsspec.specs``) or an explicit ``import dvault.fs``.
"""

from __future__ import annotations

import os
import threading
from typing import Any, NoReturn

from fsspec import AbstractFileSystem

from dvault.errors import ReadOnly
from dvault.reader import Entry, ProjectArg, Snapshot, VersionFile, open_source

_TYPES = {"file": "file", "directory": "directory", "symlink": "other"}


class DvaultFileSystem(AbstractFileSystem):
    """Read-only fsspec filesystem over the versions of one dvault project or remote."""

    protocol = "dvault"
    root_marker = ""

    def __init__(
        self,
        repo: ProjectArg = None,
        remote: str | os.PathLike[str] | None = None,
        rev: str = "HEAD",
        endpoint: str | None = None,
        region: str | None = None,
        profile: str | None = None,
        cache_dir: str | os.PathLike[str] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.rev = rev
        self.source = open_source(
            repo, remote, endpoint=endpoint, region=region, profile=profile, cache_dir=cache_dir
        )
        self._snapshots: dict[str, Snapshot] = {}
        self._lock = threading.Lock()

    @classmethod
    def _strip_protocol(cls, path: Any) -> Any:
        if isinstance(path, list):
            return [cls._strip_protocol(p) for p in path]
        text = os.fspath(path)
        if text.startswith("dvault://"):
            text = text[len("dvault://") :]
        return text.strip("/")

    def snapshot(self, rev: str | None = None) -> Snapshot:
        """The version ``rev`` (default: this filesystem's ``rev``), resolved once."""
        rev = rev or self.rev
        with self._lock:
            snap = self._snapshots.get(rev)
            if snap is None:
                snap = self._snapshots[rev] = Snapshot(self.source, rev)
            return snap

    def invalidate_cache(self, path: str | None = None) -> None:
        """Forget resolved revisions and re-read the remote's refs and packs, so branch
        names move to their newest commits."""
        with self._lock:
            self._snapshots.clear()
            self.source.refresh()
        super().invalidate_cache(path)

    def close(self) -> None:
        """Release the repository or remote (the instance is unusable afterwards)."""
        with self._lock:
            self._snapshots.clear()
            self.source.close()

    def _info(self, entry: Entry, snap: Snapshot) -> dict[str, Any]:
        return {
            "name": entry.path,
            "size": entry.size,
            "type": _TYPES[entry.type],
            "mode": entry.mode,
            "id": entry.id,
            "rev": snap.id,
        }

    def info(self, path: str, rev: str | None = None, **kwargs: Any) -> dict[str, Any]:
        snap = self.snapshot(rev)
        return self._info(snap.stat(self._strip_protocol(path)), snap)

    def ls(
        self, path: str, detail: bool = True, rev: str | None = None, **kwargs: Any
    ) -> list[Any]:
        snap = self.snapshot(rev)
        path = self._strip_protocol(path)
        entry = snap.stat(path)
        entries = snap.ls(path) if entry.is_dir else [entry]
        if detail:
            return [self._info(e, snap) for e in entries]
        return [e.path for e in entries]

    def ukey(self, path: str, rev: str | None = None) -> str:
        """The content id: equal across versions exactly when the bytes are equal."""
        return self.snapshot(rev).stat(self._strip_protocol(path)).id

    def _open(
        self,
        path: str,
        mode: str = "rb",
        block_size: int | None = None,
        autocommit: bool = True,
        cache_options: dict[str, Any] | None = None,
        rev: str | None = None,
        **kwargs: Any,
    ) -> VersionFile:
        if mode != "rb":
            self._read_only(f"open {path} with mode {mode!r}")
        return self.snapshot(rev).open(self._strip_protocol(path))

    def cat_file(
        self,
        path: str,
        start: int | None = None,
        end: int | None = None,
        rev: str | None = None,
        **kwargs: Any,
    ) -> bytes:
        with self._open(path, rev=rev) as f:
            size = f.size
            begin = 0 if start is None else (start if start >= 0 else max(0, size + start))
            stop = size if end is None else (end if end >= 0 else max(0, size + end))
            f.seek(begin)
            return f.read(max(0, stop - begin))

    # -- writes: a version never changes ------------------------------------------------

    def _read_only(self, what: str) -> NoReturn:
        raise ReadOnly(f"dvault:// is read-only: cannot {what} (commit with dvault instead)")

    def mkdir(self, path: str, create_parents: bool = True, **kwargs: Any) -> NoReturn:
        self._read_only(f"create {path}")

    def makedirs(self, path: str, exist_ok: bool = False) -> NoReturn:
        self._read_only(f"create {path}")

    def rmdir(self, path: str) -> NoReturn:
        self._read_only(f"remove {path}")

    def rm_file(self, path: str) -> NoReturn:
        self._read_only(f"remove {path}")

    def _rm(self, path: str) -> NoReturn:
        self._read_only(f"remove {path}")

    def rm(self, path: Any, recursive: bool = False, maxdepth: int | None = None) -> NoReturn:
        self._read_only(f"remove {path}")

    def cp_file(self, path1: str, path2: str, **kwargs: Any) -> NoReturn:
        self._read_only(f"copy to {path2}")

    def mv(self, path1: Any, path2: Any, *args: Any, **kwargs: Any) -> NoReturn:
        self._read_only(f"move {path1}")

    def put_file(self, lpath: str, rpath: str, *args: Any, **kwargs: Any) -> NoReturn:
        self._read_only(f"write {rpath}")

    def pipe_file(self, path: str, value: bytes, *args: Any, **kwargs: Any) -> NoReturn:
        self._read_only(f"write {path}")

    def touch(self, path: str, truncate: bool = True, **kwargs: Any) -> NoReturn:
        self._read_only(f"write {path}")
