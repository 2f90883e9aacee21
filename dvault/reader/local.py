"""Reading a project's own versions: its object store and refs, through the
:class:`~dvault.repository.Repository` handle (never the public ``Repo``)."""

from __future__ import annotations

import os
from collections.abc import Callable

from dvault.errors import DvaultError, MissingObject, ObjectErased
from dvault.hashing import ObjectId, ObjectType
from dvault.objects import Object, decode_expected
from dvault.reader.remote import RemoteObjects
from dvault.reader.source import Source
from dvault.remote import released
from dvault.remote.registry import default_remote
from dvault.remote.session import Remote, remote_specs
from dvault.repository import Repository


class LocalObjects:
    """The local store; for an object it lacks, the project's remotes, read in place.

    A partial clone holds the data of only some paths: reading another path of a version
    reads it from a remote (verified like any remote read) instead of failing. A full
    clone never gets here unless its store lost something, and then the remote copy is
    exactly what ``repair`` would fetch. With ``remotes=False`` a missing object is an
    error, as it is to ``dvault show``.
    """

    def __init__(self, repo: Repository, remotes: bool = True) -> None:
        self.repo = repo
        self.store = repo.store
        self._remotes: list[RemoteObjects] | None = None if remotes else []

    def _fallback(self) -> list[RemoteObjects]:
        if self._remotes is None:
            self._remotes = []
            specs = remote_specs(self.repo)
            try:
                first = default_remote(self.repo.config, specs)[0]
            except DvaultError:  # no default to prefer: origin, then by name
                first = "origin"
            for name in sorted(specs, key=lambda n: (n != first, n)):
                try:
                    remote = Remote(self.repo, specs[name])
                    remote.catalog.refresh()  # footers verified against the pack names
                except DvaultError:
                    continue  # unreachable: the next remote may hold it
                self._remotes.append(RemoteObjects(remote))
        return self._remotes

    def get_raw(self, oid: bytes) -> tuple[ObjectType, bytes]:
        try:
            return self.store.get_raw(oid)
        except ObjectErased:
            raise  # erased on purpose (dvault redact): a remote copy is never read instead
        except MissingObject:
            for remote in self._fallback():
                if remote.has(oid):
                    return remote.get_raw(oid)
            raise

    def get(self, oid: bytes, expect: ObjectType | None = None) -> Object:
        return decode_expected(oid, *self.get_raw(oid), expect)

    def type_of(self, oid: bytes) -> ObjectType | None:
        return self.store.type_of(oid)


class LocalSource(Source):
    """A project's own object store and refs (and its remotes for what a partial clone
    lacks, unless ``remotes`` is False). ``release`` closes what opening it took."""

    def __init__(
        self,
        repo: Repository,
        release: Callable[[], None] | None = None,
        remotes: bool = True,
    ) -> None:
        self.repo = repo
        self._pid = os.getpid()
        self._remotes = remotes
        self._objects = LocalObjects(repo, remotes)
        self._release = release

    def _reopen(self) -> None:
        self.repo = Repository(self.repo.root)  # the parent's object index is closed in a child
        self._objects = LocalObjects(self.repo, self._remotes)
        self._release = self.repo.close

    def resolve(self, rev: str) -> ObjectId:
        self._after_fork()
        return self.repo.resolve(rev)

    def describe(self) -> str:
        return str(self.repo.root)

    def check_contents(self, commit_id: ObjectId, tree: ObjectId) -> None:
        if self.repo.store.type_of(tree) is not None:
            return
        try:
            self.objects.get_raw(tree)  # a remote may still hold it (not pruned yet)
        except MissingObject:
            released.refuse(self.repo.dir, commit_id, False)

    def close(self) -> None:
        release, self._release = self._release, None
        if release is not None:
            release()
