"""Read any version of a project without a checkout, from the local store or a remote.

Training code wants ``labels@v3``, not a workspace switched to ``v3``. A
:class:`Snapshot` (``snapshots.py``) is one commit's tree, read from a :class:`Source`
(``source.py``): the local object store (``local.py``), or a remote read in place with
range reads — directory, S3, encrypted (``remote.py``). :class:`VersionFile`
(``file.py``) streams one file of it chunk by chunk, each piece hash-verified before a
byte is handed out. This module holds the public functions — ``dvault.open``, ``ls``,
``walk``, ``snapshot`` — and :func:`open_source`, which picks the source.

Layer: the public API, beside ``repo`` and below ``fs`` (fsspec) and ``cli``; a local
project is opened as a :class:`~dvault.repository.Repository` (an open ``dvault.Repo`` is
one), never through the ``Repo`` facade.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

from blake3 import blake3

from dvault.errors import UsageError
from dvault.reader.file import VersionFile
from dvault.reader.local import LocalObjects, LocalSource
from dvault.reader.remote import NoProject, RemoteObjects, RemoteRefs, RemoteSource
from dvault.reader.snapshots import Entry, Snapshot
from dvault.reader.source import Objects, Source
from dvault.remote.backend import RemoteSpec
from dvault.remote.session import Remote, remote_specs
from dvault.repository import Repository

ProjectArg = str | os.PathLike[str] | Repository | None
"""A project to read: a path in it, an open repository (``dvault.Repo`` is one), or None
for the one containing the current directory."""


def _project(repo: ProjectArg) -> tuple[Repository, Callable[[], None] | None]:
    """The repository and what closes it (None for the caller's own, never closed here)."""
    if isinstance(repo, Repository):
        return repo, None
    opened = Repository.open(os.fspath(repo) if repo is not None else ".")
    return opened, opened.close


def default_cache_dir() -> Path:
    """Where reads of a remote given by URL (no project) keep the remote's verified ref-log
    position and pack footers: ``$XDG_CACHE_HOME/dvault`` (default ``~/.cache/dvault``)."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(Path.home(), ".cache")
    return Path(base) / "dvault"


def _is_url(text: str) -> bool:
    return "://" in text or "/" in text or text.startswith(".") or os.path.isdir(text)


def open_source(
    repo: ProjectArg = None,
    remote: str | os.PathLike[str] | None = None,
    *,
    endpoint: str | None = None,
    region: str | None = None,
    profile: str | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
) -> Source:
    """The place to read versions from.

    * neither: the project containing the current directory;
    * ``repo`` (a path or an open :class:`~dvault.Repo`): that project's local store;
    * ``remote`` with ``repo``: a remote configured in that project, by name (or a URL);
    * ``remote`` alone: a remote URL (``s3://bucket/prefix``, ``file:///path`` or a
      directory path) read with no project at all; ``endpoint``, ``region`` and
      ``profile`` are the S3 settings of ``dvault remote add``.

    An encrypted remote asks for its passphrase like the CLI does (``DVAULT_PASSPHRASE``).
    """
    if remote is None:
        local, release = _project(repo)
        return LocalSource(local, release)
    text = os.fspath(remote)
    if repo is not None:
        local, release = _project(repo)
        try:
            specs = remote_specs(local)
            if text in specs or not _is_url(text):
                if text not in specs:
                    raise UsageError(f"no remote named {text!r} in {local.root}")
                return RemoteSource(Remote(local, specs[text]), release)
        except BaseException:
            if release is not None:
                release()
            raise
        if release is not None:
            release()
    if "://" not in text:
        text = str(Path(text).resolve())
    spec = RemoteSpec("remote", text, endpoint, region, None, profile)
    key = blake3(f"{text}\n{endpoint or ''}".encode()).hexdigest()[:24]
    cache = Path(cache_dir) if cache_dir is not None else default_cache_dir() / "remotes" / key
    return RemoteSource(Remote(NoProject(cache), spec))


# -- the module-level functions (dvault.open, dvault.ls, ...) ----------------------------


def snapshot(
    rev: str = "HEAD",
    *,
    repo: ProjectArg = None,
    remote: str | os.PathLike[str] | None = None,
    endpoint: str | None = None,
    region: str | None = None,
    profile: str | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
) -> Snapshot:
    """Version ``rev`` of a project, from its local store or a remote (see
    :func:`open_source` for ``repo``/``remote``). Close it when done. On a remote,
    ``HEAD`` means its main branch (else master, else its first branch)."""
    source = open_source(
        repo, remote, endpoint=endpoint, region=region, profile=profile, cache_dir=cache_dir
    )
    try:
        return Snapshot(source, rev, owns_source=True)
    except BaseException:
        source.close()
        raise


def open(
    path: str | os.PathLike[str],
    rev: str = "HEAD",
    *,
    repo: ProjectArg = None,
    remote: str | os.PathLike[str] | None = None,
    mode: str = "rb",
    endpoint: str | None = None,
    region: str | None = None,
    profile: str | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
) -> VersionFile:
    """Open ``path`` as it is in ``rev``, without a checkout: a seekable binary file that
    streams and verifies one chunk at a time. Raises :class:`~dvault.UnknownRevision`,
    :class:`~dvault.PathNotFound` or :class:`~dvault.IsADirectory`."""
    snap = snapshot(
        rev,
        repo=repo,
        remote=remote,
        endpoint=endpoint,
        region=region,
        profile=profile,
        cache_dir=cache_dir,
    )
    try:
        f = snap.open(path, mode)
    except BaseException:
        snap.close()
        raise
    f._on_close = snap.close
    return f


def ls(
    path: str | os.PathLike[str] = "",
    rev: str = "HEAD",
    *,
    repo: ProjectArg = None,
    remote: str | os.PathLike[str] | None = None,
    endpoint: str | None = None,
    region: str | None = None,
    profile: str | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
) -> list[Entry]:
    """The entries of directory ``path`` in ``rev`` (a file: just its own entry)."""
    with snapshot(
        rev,
        repo=repo,
        remote=remote,
        endpoint=endpoint,
        region=region,
        profile=profile,
        cache_dir=cache_dir,
    ) as snap:
        entry = snap.stat(path)
        return snap.ls(path) if entry.is_dir else [entry]


def walk(
    path: str | os.PathLike[str] = "",
    rev: str = "HEAD",
    *,
    repo: ProjectArg = None,
    remote: str | os.PathLike[str] | None = None,
    topdown: bool = True,
    endpoint: str | None = None,
    region: str | None = None,
    profile: str | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
) -> Iterator[tuple[str, list[Entry], list[Entry]]]:
    """Like :func:`os.walk` over ``path`` in ``rev``: ``(dirpath, dirs, files)`` with
    :class:`Entry` lists. Errors in ``rev`` or ``path`` are raised by this call, not by
    the first iteration."""
    snap = snapshot(
        rev,
        repo=repo,
        remote=remote,
        endpoint=endpoint,
        region=region,
        profile=profile,
        cache_dir=cache_dir,
    )
    try:
        walker = snap.walk(path, topdown)
    except BaseException:
        snap.close()
        raise
    return _closing(walker, snap)


def _closing(
    walker: Iterator[tuple[str, list[Entry], list[Entry]]], snap: Snapshot
) -> Iterator[tuple[str, list[Entry], list[Entry]]]:
    try:
        yield from walker
    finally:
        snap.close()


__all__ = [
    "Entry",
    "LocalObjects",
    "LocalSource",
    "NoProject",
    "Objects",
    "ProjectArg",
    "RemoteObjects",
    "RemoteRefs",
    "RemoteSource",
    "Snapshot",
    "Source",
    "VersionFile",
    "default_cache_dir",
    "ls",
    "open",
    "open_source",
    "snapshot",
    "walk",
]
