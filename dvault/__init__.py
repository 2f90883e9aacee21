"""dvault: version control and append-only backups for machine-learning data.

The public Python API (docs/api.md) is what ``dvault.__all__`` lists:

* :class:`Repo` — a project and the operations of the command line
  (``Repo.init``, ``Repo.open``, ``add``, ``commit``, ``checkout``, ``push``, ...);
* :func:`open`, :func:`ls`, :func:`walk`, :func:`snapshot` — read any version without a
  checkout, from the local store or straight from a remote, verified chunk by chunk;
* the exceptions, all derived from :class:`DvaultError`;
* the ``dvault://`` fsspec filesystem is ``dvault.fs.DvaultFileSystem`` (needs the
  ``fsspec`` extra; registered through the ``fsspec.specs`` entry point).

The package is layered, bottom up (docs/architecture.md; ``tests/test_layers.py`` fails on
any import that points up, at the top of a module, inside a function or under
``TYPE_CHECKING``, and on any cycle):

1. base — ``errors``, ``hashing``, ``chunking``, ``fsutil``, ``config``, ``textsafe``, ...:
   import only the standard library and third-party packages;
2. format — ``objects``, ``trees/``, ``content``, ``rechunk``: parse and serialise objects;
   import base;
3. storage — ``store/`` (packs, LMDB index, workspace state), ``refs``, ``revisions``,
   ``pins``: import format and base; what they need of a store is a ``Protocol``;
4. handle — ``repository.Repository``: opens a project and hands out its parts;
5. subsystems — ``workspace/``, ``remote/``, ``maintenance/``, ``verify``, ``signing``,
   ``lineage``, ``review``, ``impact``, ``reachability``: take a ``Repository`` or a small
   ``Protocol``, never the public ``Repo``;
6. operations — ``ops/``: one function per command over a ``Repository``;
7. the public API — ``repo.Repo`` (one method per operation), ``reader/``, ``fs``, ``demo``;
8. the command line — ``cli/``.

A module imports its own floor or lower. Everything but the exceptions is imported on
first use, so ``import dvault``, ``dvault --help`` and ``dvault status`` start fast.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

from dvault.errors import (
    CheckFailed,
    CorruptObject,
    CorruptPack,
    DvaultError,
    InvalidName,
    IsADirectory,
    LockTimeout,
    MissingObject,
    NotADirectory,
    NotARepository,
    NothingToCommit,
    PathNotFound,
    PathOutsideRepository,
    ReadOnly,
    RefExists,
    RepositoryExists,
    StorageError,
    UncommittedChanges,
    UnknownRevision,
    UsageError,
)

__version__ = "0.1.0"

if TYPE_CHECKING:
    from dvault.ops.log import LogEntry
    from dvault.reader import Entry, Snapshot, VersionFile, ls, open, snapshot, walk
    from dvault.remote.backend import RemoteError, RemoteTampered
    from dvault.remote.keys import PassphraseRequired
    from dvault.repo import Repo

_LAZY = {
    "Repo": "dvault.repo",
    "LogEntry": "dvault.ops.log",
    "Entry": "dvault.reader",
    "Snapshot": "dvault.reader",
    "VersionFile": "dvault.reader",
    "open": "dvault.reader",
    "ls": "dvault.reader",
    "walk": "dvault.reader",
    "snapshot": "dvault.reader",
    "RemoteError": "dvault.remote.backend",
    "RemoteTampered": "dvault.remote.backend",
    "PassphraseRequired": "dvault.remote.keys",
}

__all__ = [
    "CheckFailed",
    "CorruptObject",
    "CorruptPack",
    "DvaultError",
    "Entry",
    "InvalidName",
    "IsADirectory",
    "LockTimeout",
    "LogEntry",
    "MissingObject",
    "NotADirectory",
    "NotARepository",
    "NothingToCommit",
    "PassphraseRequired",
    "PathNotFound",
    "PathOutsideRepository",
    "ReadOnly",
    "RefExists",
    "RemoteError",
    "RemoteTampered",
    "Repo",
    "RepositoryExists",
    "Snapshot",
    "StorageError",
    "UncommittedChanges",
    "UnknownRevision",
    "UsageError",
    "VersionFile",
    "__version__",
    "ls",
    "open",
    "snapshot",
    "walk",
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'dvault' has no attribute {name!r}")
    value = getattr(import_module(module), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
