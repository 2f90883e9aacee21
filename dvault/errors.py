"""The one exception hierarchy of dvault.

Every error a user can cause or meet derives from :class:`DvaultError`; its ``exit_code``
is what the command line returns (docs/cli.md, "Exit codes": 1 difference or failed check,
2 usage or bad input, 3 repository or remote error). The CLI prints ``str(error)`` as one
line.
"""

from __future__ import annotations

import sys

from dvault import textsafe


class DvaultError(Exception):
    """Base of all dvault errors; the message is shown to the user as one line."""

    exit_code = 3


class UsageError(DvaultError):
    """Bad input from the user: a wrong argument, an unknown name, a malformed value."""

    exit_code = 2


class CheckFailed(DvaultError):
    """A check did not pass or there was nothing to do (exit 1, like ``git commit``)."""

    exit_code = 1


class NotARepository(DvaultError):
    """No ``.dvault`` directory in the given path or any parent."""


class RepositoryExists(UsageError):
    """``init`` on a path that already holds a repository."""


class UnknownRevision(UsageError):
    """A revision name or id that matches nothing (or is ambiguous)."""


class PathOutsideRepository(UsageError):
    """A path argument that resolves outside the project root."""


class NothingToCommit(CheckFailed):
    """``commit`` with a stage identical to HEAD."""


class RefExists(UsageError):
    """Creating a tag or branch whose name is taken; tags never move."""


class InvalidName(UsageError):
    """A ref name or tree entry name that is not allowed."""


class UncommittedChanges(CheckFailed):
    """A checkout would overwrite or remove local changes."""


class LockTimeout(DvaultError):
    """Another dvault process held the writer lock for longer than the timeout."""


class CorruptObject(DvaultError):
    """Stored bytes that fail their hash or do not parse."""


class MissingObject(DvaultError):
    """An object id that the store does not hold."""


class ObjectErased(MissingObject):
    """An object deliberately erased by ``dvault redact`` (store/erased.py): absent on
    purpose, never damage. ``detail`` is "erased on DATE by USER: REASON", escaped; a
    reader that knows the path says :meth:`for_path`."""

    def __init__(self, oid_hex: str, detail: str) -> None:
        super().__init__(f"object {oid_hex[:12]}: {detail}")
        self.detail = detail

    def for_path(self, path: str) -> ObjectErased:
        named = ObjectErased.__new__(ObjectErased)
        DvaultError.__init__(named, f"{textsafe.line(path)}: {self.detail}")
        named.detail = self.detail
        return named


class ContentsReleased(MissingObject):
    """A commit whose trees and data a trusted ``dvault forget`` released and ``prune``
    deleted (remote/released.py): its history is here, its contents are gone on purpose.
    The message is "commit ID: released by forget on DATE by USER (policy ...)", escaped.
    Exit 1, as a checkout that left out an erased file."""

    exit_code = 1


class CorruptPack(DvaultError):
    """A pack file whose header, records or footer are damaged."""


class StorageError(DvaultError):
    """An operating-system failure (full disk, permissions) while reading or writing."""


class PathNotFound(UsageError, FileNotFoundError):
    """A path that a revision does not hold (also a ``FileNotFoundError``, so pandas,
    pyarrow and fsspec treat it as a missing file)."""


class IsADirectory(UsageError, IsADirectoryError):
    """Opening a path of a revision that is a directory, not a file."""


class NotADirectory(UsageError, NotADirectoryError):
    """Listing a path of a revision that is a file, not a directory."""


class ReadOnly(UsageError, PermissionError):
    """Writing through a read-only view of a version (``dvault.open``, ``dvault://``)."""


def warn_stderr(text: str) -> None:
    """The default way to report a finding that does not stop a command (a junk file
    on a remote, a replaced object read at its first version): one line on stderr.
    ``Repo.warn`` holds it, so a library user can route warnings elsewhere. The text
    names things a remote or a committed config chose (keys, URLs, ref names): printed
    with its control characters escaped (textsafe), like every other line dvault shows."""
    print(f"dvault: warning: {textsafe.line(text)}", file=sys.stderr)
