"""The plumbing handle: one :class:`Repository` per open ``.dvault``, which every layer
below the public API receives (workspace, remote, maintenance, verify, signing, lineage,
the operations in ``ops/``).

It opens and creates the repository and hands out its parts — the object store, the
workspace state, the refs, the settings in force — plus the writer lock, path and
revision resolution, progress and warning sinks. It runs no command: those are the
functions in ``dvault.ops``, and :class:`dvault.repo.Repo`, the public API, is this
handle with one method per operation. Nothing here imports a layer above it.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, Self

from dvault import config as cfg
from dvault.commitobjects import Commit
from dvault.errors import (
    NotARepository,
    PathOutsideRepository,
    RepositoryExists,
    UsageError,
    warn_stderr,
)
from dvault.fsutil import write_durable
from dvault.gitlink import find_git_root
from dvault.hashing import ObjectId, ObjectType
from dvault.lock import writer_lock
from dvault.store import registry

if TYPE_CHECKING:
    from dvault.refs import RefStore
    from dvault.store.objectstore import ObjectStore
    from dvault.store.state import WorkspaceState

DVAULT_DIR = ".dvault"
DEFAULT_BRANCH = "main"
DVAULT_GITIGNORE = "# only the config is meant for git\n*\n!config\n!.gitignore\n"
FORMAT = 1
"""The repository format this code reads and writes (``core.format`` in the config);
a repository of any other format is refused on open rather than misread."""

Progress = Callable[[int], None]
ProgressFactory = Callable[[str, int], contextlib.AbstractContextManager[Progress]]


@contextlib.contextmanager
def no_progress(_desc: str, _total: int) -> Iterator[Progress]:
    yield lambda _n: None


class Repository:
    """An open ``.dvault``: its parts, its lock, and its paths and revisions.

    Parts open lazily, on first use, and :meth:`close` releases them (they reopen when
    used again). Use it as a context manager.
    """

    def __init__(self, root: Path) -> None:
        self.root = root
        self.dir = root / DVAULT_DIR
        self.progress: ProgressFactory = no_progress
        self.warn: Callable[[str], None] = warn_stderr
        self.folds_names: bool | None = None  # the work tree's FS, probed by workspace.safety

    # -- opening --------------------------------------------------------------------------

    @classmethod
    def init(cls, path: Path | str = ".", at_git_root: bool = True) -> Self:
        """Create ``.dvault`` in ``path`` (at the git root when ``path`` is inside git,
        unless ``at_git_root`` is False, as for a clone into a new directory)."""
        target = Path(path).resolve()
        git_root = find_git_root(target) if at_git_root else None
        root = git_root if git_root is not None else target
        dvault = root / DVAULT_DIR
        if dvault.exists():
            raise RepositoryExists(f"{dvault} already exists")
        root.mkdir(parents=True, exist_ok=True)
        tmp = root / f".dvault-init-{os.getpid()}"
        try:
            for sub in ("packs", "tmp", "refs/heads", "refs/tags", "logs"):
                (tmp / sub).mkdir(parents=True)
            (tmp / "HEAD").write_text(f"ref: refs/heads/{DEFAULT_BRANCH}\n")
            (tmp / ".gitignore").write_text(DVAULT_GITIGNORE)
            cfg.save(tmp / "config", cfg.DEFAULT)
            os.rename(tmp, dvault)  # the repository appears complete or not at all
        except OSError as exc:
            import shutil

            shutil.rmtree(tmp, ignore_errors=True)
            raise UsageError(f"cannot create {dvault}: {exc.strerror}") from None
        return cls(root)

    @classmethod
    def open(cls, path: Path | str = ".") -> Self:
        """The project containing ``path`` (searching parent directories); refuses a
        repository of a format this code does not read."""
        start = Path(path).resolve()
        for candidate in (start, *start.parents):
            dvault = candidate / DVAULT_DIR
            if (dvault / "HEAD").is_file():
                repo = cls(candidate)
                break
            if (dvault / "config").is_file():
                if (dvault / "packs").exists():
                    raise NotARepository(f"{dvault} is damaged: its HEAD file is missing")
                repo = cls._complete(candidate)
                break
        else:
            raise NotARepository(f"not a dvault repository (or any parent up to /): {start}")
        repo.check_format()
        return repo

    @classmethod
    def _complete(cls, root: Path) -> Self:
        """A fresh git clone carries only the committed ``.dvault/config``: create the
        rest of the repository around it (empty store, HEAD on the default branch)."""
        dvault = root / DVAULT_DIR
        try:
            for sub in ("packs", "tmp", "refs/heads", "refs/tags", "logs"):
                (dvault / sub).mkdir(parents=True, exist_ok=True)
            if not (dvault / ".gitignore").exists():
                (dvault / ".gitignore").write_text(DVAULT_GITIGNORE)
            write_durable(dvault / "HEAD", f"ref: refs/heads/{DEFAULT_BRANCH}\n".encode())
        except OSError as exc:
            raise NotARepository(f"cannot complete the repository in {dvault}: {exc}") from None
        return cls(root)

    def check_format(self) -> None:
        """Refuse a repository whose ``core.format`` this code does not read (written by a
        newer dvault, or damaged): reading it as format 1 could misread or rewrite it."""
        core = self.config.get("core")
        found = core.get("format", FORMAT) if isinstance(core, dict) else FORMAT
        if found != FORMAT or isinstance(found, bool):
            raise NotARepository(
                f"{self.dir / 'config'}: core.format = {found!r} is not a format this dvault "
                f"reads (it reads {FORMAT}); use the dvault that wrote it"
            )

    def close(self) -> None:
        """Release the object index and workspace state (reopened on next use)."""
        if "store" in self.__dict__:
            registry.release(self.__dict__.pop("store"))
        if "state" in self.__dict__:
            self.__dict__.pop("state").close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- parts ----------------------------------------------------------------------------

    @cached_property
    def store(self) -> ObjectStore:
        return registry.acquire(self.dir)

    def replace_store(self, store: ObjectStore | None = None) -> None:
        """Drop the handle's store (repair rebuilt the index, or a fetch added packs);
        ``store`` becomes the new one, else the next use reopens it."""
        old = self.__dict__.pop("store", None)
        if old is not None:
            registry.release(old)
        if store is not None:
            self.__dict__["store"] = store

    @cached_property
    def state(self) -> WorkspaceState:
        from dvault.store.state import WorkspaceState  # deferred: lmdb, status-only

        return WorkspaceState(self.dir / "state")

    @cached_property
    def refs(self) -> RefStore:
        from dvault.refs import RefStore

        return RefStore(self.dir)

    @cached_property
    def config(self) -> dict[str, Any]:
        """The settings in force: user, project and local config merged (config.py)."""
        return cfg.load_project(self.dir)

    def reload_config(self) -> None:
        """Read the settings again on next use (a command changed a config file)."""
        self.__dict__.pop("config", None)

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        with writer_lock(self.dir / "lock"):
            from dvault.store.objectstore import remove_stale_temp_files

            remove_stale_temp_files(self.dir / "tmp")
            yield

    # -- paths and revisions --------------------------------------------------------------

    def relpath(self, path: str | Path, cwd: Path | None = None) -> bytes:
        """Project-relative bytes path of a user-given path; refuses paths outside."""
        given = Path(path)
        full = given if given.is_absolute() else (cwd or Path.cwd()) / given
        full = Path(os.path.normpath(full))
        try:
            rel = full.relative_to(self.root)
        except ValueError:
            raise PathOutsideRepository(
                f"path {path} is outside the repository {self.root}"
            ) from None
        parts = rel.parts
        reserved = next((p for p in parts if p in (DVAULT_DIR, ".git")), None)
        if reserved is not None:  # checkout refuses these at any depth (workspace/safety.py)
            raise PathOutsideRepository(f"path {path} is inside {reserved}, not data")
        return os.fsencode(rel.as_posix()) if parts else b""

    def resolve(self, rev: str) -> ObjectId:
        """The commit id ``rev`` names: ``HEAD``, a branch, a tag, ``origin/main``, an
        (abbreviated) id, ``REV~N``, ``REV^N``; raises :class:`UnknownRevision`."""
        from dvault.revisions import resolve

        return resolve(self, rev)

    def read_commit(self, oid: bytes) -> Commit:
        """The commit object ``oid`` (message, author, time, roots, lineage ``meta``)."""
        commit = self.store.get(oid, ObjectType.COMMIT)
        assert isinstance(commit, Commit)
        return commit

    def head(self) -> tuple[str | None, ObjectId | None]:
        """The current branch (None when detached) and commit (None before the first)."""
        return self.refs.head()

    def roots(self) -> dict[str, str]:
        """Tracked roots (project-relative paths) and their kinds."""
        return self.state.roots()
