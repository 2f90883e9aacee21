"""What a reader reads from: a :class:`Source` (the local store or a remote) and the
:class:`Objects` it hands out.

Both kinds of source read and verify objects through the same three calls, so a
:class:`~dvault.reader.snapshots.Snapshot` and a
:class:`~dvault.reader.file.VersionFile` never know which one they read.
"""

from __future__ import annotations

import os
from typing import Protocol

from dvault.hashing import ObjectId, ObjectType
from dvault.objects import Object


class Objects(Protocol):
    """The read side of an object store, which the local store and a remote both offer.
    (It is also a ``trees.TreeSource``: trees read from either without knowing which.)"""

    def get_raw(self, oid: bytes) -> tuple[ObjectType, bytes]: ...
    def get(self, oid: bytes, expect: ObjectType | None = None) -> Object: ...
    def type_of(self, oid: bytes) -> ObjectType | None: ...


class Source:
    """Where versions are read from. :meth:`close` releases what opening it took.

    A source survives ``fork`` (PyTorch ``DataLoader`` workers): LMDB handles and S3
    connections must not be shared with a child, so a child reopens them on first use.
    """

    _pid: int
    _objects: Objects

    @property
    def objects(self) -> Objects:
        self._after_fork()
        return self._objects

    def _after_fork(self) -> None:
        """Reopen what the parent process had open, once, in a forked child."""
        if self._pid != os.getpid():
            self._pid = os.getpid()
            self._reopen()

    def _reopen(self) -> None:
        """Open again what the parent process had open (we are a forked child)."""

    def resolve(self, rev: str) -> ObjectId:
        """The commit a revision name (branch, tag, id, ``REV~N``) stands for."""
        raise NotImplementedError

    def refresh(self) -> None:
        """See refs and objects added since the source was opened (a remote is listed
        once on open)."""

    def describe(self) -> str:
        raise NotImplementedError

    def check_contents(self, commit_id: ObjectId, tree: ObjectId) -> None:
        """Raise ``ContentsReleased`` when ``commit_id``'s contents were released by a
        trusted forget and are not readable here (a local source knows; others do not
        check, and a pruned tree is then reported missing)."""

    def close(self) -> None:
        pass
