"""One version of a project, read without a checkout: :class:`Snapshot` (``stat``, ``ls``,
``walk``, ``open``, ``read``) and the :class:`Entry` each path is reported as.

A path is read from the commit's tree, through the source's verified objects; nothing
here knows whether they come from the local store or a remote.
"""

from __future__ import annotations

import os
import posixpath
from collections.abc import Iterator
from dataclasses import dataclass

from dvault.commitobjects import Commit
from dvault.errors import CorruptObject, IsADirectory, NotADirectory, PathNotFound, ReadOnly
from dvault.hashing import ObjectId, ObjectType
from dvault.reader.file import VersionFile
from dvault.reader.source import Source
from dvault.treeobjects import MODE_DIR, TreeEntry
from dvault.trees import EMPTY_TREE, MAX_DEPTH, expand, lookup, read_tree

MAX_SYMLINKS = 40
"""Symlink hops followed when opening a path (like the kernel's ELOOP limit)."""


@dataclass(frozen=True)
class Entry:
    """One path of a version, as ``ls``/``walk``/``stat`` report it."""

    path: str
    """Project-relative, ``/``-separated (``""`` is the project root)."""
    name: str
    type: str
    """``"file"``, ``"directory"`` or ``"symlink"``."""
    size: int
    """Bytes of the file; for a directory, the bytes of all files under it."""
    mode: int
    """``0o100644``, ``0o100755``, ``0o040000`` (directory) or ``0o120000`` (symlink)."""
    id: str
    """The content's object id (hex): equal ids mean equal content, in any version."""

    @property
    def is_dir(self) -> bool:
        return self.type == "directory"

    @property
    def is_file(self) -> bool:
        return self.type == "file"

    @classmethod
    def of(cls, path: bytes, entry: TreeEntry) -> Entry:
        kind = "directory" if entry.mode == MODE_DIR else "symlink" if entry.is_link else "file"
        text = os.fsdecode(path)
        return cls(text, text.rpartition("/")[2], kind, entry.size, entry.mode, entry.id.hex())


def _clean(path: str | os.PathLike[str]) -> bytes:
    """A project-relative path as the tree knows it (``b""`` for the root)."""
    text = os.fspath(path).replace("\\", "/") if os.sep == "\\" else os.fspath(path)
    text = posixpath.normpath("/" + text).lstrip("/")
    return os.fsencode(text) if text not in ("", ".") else b""


class Snapshot:
    """One version (commit) of a project, read without a checkout.

    Get one from :func:`dvault.snapshot` or :meth:`dvault.Repo.snapshot`; close it (or use
    ``with``) to release the repository or remote it reads from. Files opened from it
    must be closed before it.
    """

    def __init__(self, source: Source, rev: str, owns_source: bool = False) -> None:
        self.source = source
        self.rev = rev
        self._owns = owns_source
        self.commit_id: ObjectId = source.resolve(rev)
        commit = source.objects.get(self.commit_id, ObjectType.COMMIT)
        assert isinstance(commit, Commit)
        source.check_contents(self.commit_id, commit.tree)
        self.commit: Commit = commit
        """The commit object (message, author, time, lineage in ``meta``)."""

    @property
    def id(self) -> str:
        """The commit id (hex)."""
        return self.commit_id.hex()

    def __repr__(self) -> str:
        return f"<dvault.Snapshot {self.rev} ({self.id[:12]}) of {self.source.describe()}>"

    def __enter__(self) -> Snapshot:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._owns:
            self._owns = False
            self.source.close()

    def _lookup(self, rel: bytes) -> TreeEntry | None:
        return lookup(self.source.objects, self.commit.tree, rel)

    def _entry(self, path: str | os.PathLike[str], follow: bool) -> tuple[bytes, TreeEntry]:
        rel = _clean(path)
        for _ in range(MAX_SYMLINKS):
            entry = self._lookup(rel)
            if entry is None:
                raise PathNotFound(f"{os.fspath(path)}: no such path in {self.rev}")
            if not (follow and entry.is_link):
                return rel, entry
            target = self.source.objects.get_raw(entry.id)[1]
            if target.startswith(b"/"):
                raise PathNotFound(
                    f"{os.fspath(path)}: a symlink to {os.fsdecode(target)}, outside the project"
                )
            joined = posixpath.normpath(posixpath.join(posixpath.dirname(rel), target))
            if joined == b".." or joined.startswith(b"../"):
                raise PathNotFound(f"{os.fspath(path)}: a symlink pointing outside the project")
            rel = b"" if joined == b"." else joined
        raise PathNotFound(f"{os.fspath(path)}: too many levels of symlinks in {self.rev}")

    def stat(self, path: str | os.PathLike[str] = "", follow_symlinks: bool = True) -> Entry:
        """The entry at ``path`` (:class:`~dvault.PathNotFound` when there is none)."""
        rel, entry = self._entry(path, follow_symlinks)
        return Entry.of(rel, entry)

    def exists(self, path: str | os.PathLike[str]) -> bool:
        try:
            self._entry(path, follow=True)
        except PathNotFound:
            return False
        return True

    def ls(self, path: str | os.PathLike[str] = "", follow_symlinks: bool = True) -> list[Entry]:
        """The entries of directory ``path``, sorted by name."""
        rel, entry = self._entry(path, follow_symlinks)
        if not entry.is_dir:
            raise NotADirectory(f"{os.fspath(path)}: not a directory in {self.rev}")
        return self._listing(rel, entry)

    def _listing(self, rel: bytes, entry: TreeEntry) -> list[Entry]:
        if entry.id == EMPTY_TREE:
            return []
        tree = read_tree(self.source.objects, entry.id)
        return [Entry.of(rel + b"/" + e.name if rel else e.name, e) for e in tree.entries]

    def walk(
        self, path: str | os.PathLike[str] = "", topdown: bool = True
    ) -> Iterator[tuple[str, list[Entry], list[Entry]]]:
        """Like :func:`os.walk`: ``(dirpath, dirs, files)`` for ``path`` and every directory
        under it, with :class:`Entry` lists (``files`` holds symlinks too). Top-down, a
        caller may remove entries from ``dirs`` to skip those directories."""
        rel, entry = self._entry(path, follow=True)
        if not entry.is_dir:
            raise NotADirectory(f"{os.fspath(path)}: not a directory in {self.rev}")
        return self._walk(os.fsdecode(rel), topdown)

    def _walk(self, top: str, topdown: bool) -> Iterator[tuple[str, list[Entry], list[Entry]]]:
        """Iterative (an explicit stack, so no tree can exhaust Python's), refusing a
        directory deeper than ``trees.MAX_DEPTH`` as damage."""
        # (directory, its listing once read: None until its subdirectories are queued)
        stack: list[tuple[str, tuple[list[Entry], list[Entry]] | None]] = [(top, None)]
        while stack:
            current, listing = stack.pop()
            if listing is not None:  # bottom-up: everything below was yielded
                yield current, *listing
                continue
            if (current.count("/") + 1 if current else 0) >= MAX_DEPTH:
                raise CorruptObject(
                    f"{current[:60]!r}...: directories nest deeper than {MAX_DEPTH} levels "
                    f"in {self.rev}"
                )
            entries = self.ls(current)
            dirs = [e for e in entries if e.is_dir]
            files = [e for e in entries if not e.is_dir]
            if topdown:
                yield current, dirs, files  # the caller may prune ``dirs`` now
            else:
                stack.append((current, (dirs, files)))
            stack.extend((d.path, None) for d in reversed(dirs))

    def files(self, path: str | os.PathLike[str] = "") -> Iterator[Entry]:
        """Every file and symlink at or under ``path``, depth first in name order."""
        rel, entry = self._entry(path, follow=False)
        for p, e in expand(self.source.objects, rel, entry):
            if not e.is_dir:
                yield Entry.of(p, e)

    def open(
        self, path: str | os.PathLike[str], mode: str = "rb", follow_symlinks: bool = True
    ) -> VersionFile:
        """A read-only, seekable binary file over ``path`` of this version, streamed and
        verified chunk by chunk. Only ``"rb"`` is supported: versions never change. Not
        following symlinks, a symlink's content is its target path."""
        if mode not in ("rb", "br"):
            raise ReadOnly(
                f"cannot open {os.fspath(path)} with mode {mode!r}: versions are read-only "
                "(use 'rb'; wrap the file in io.TextIOWrapper for text)"
            )
        rel, entry = self._entry(path, follow_symlinks)
        if entry.is_dir:
            raise IsADirectory(f"{os.fspath(path)}: is a directory in {self.rev}")
        return self._open(rel, entry)

    def _open(self, rel: bytes, entry: TreeEntry) -> VersionFile:
        return VersionFile(self.source.objects, entry.id, entry.size, os.fsdecode(rel))

    def read(
        self, path: str | os.PathLike[str] = "", follow_symlinks: bool = True
    ) -> list[Entry] | VersionFile:
        """What ``path`` holds, verified: a directory's entries (sorted by name), or a file
        opened to stream its bytes (close it). Not following symlinks, a symlink is read
        as a file holding its target path (what ``dvault show REV:PATH`` prints)."""
        rel, entry = self._entry(path, follow_symlinks)
        return self._listing(rel, entry) if entry.is_dir else self._open(rel, entry)

    def read_bytes(self, path: str | os.PathLike[str]) -> bytes:
        """The whole content of a (small) file."""
        with self.open(path) as f:
            return f.read()
