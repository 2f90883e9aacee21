"""``dvault.lock``: the data pin committed to git next to the code that uses it.

It names the dvault commit and, for each tracked root, its kind, tree id, size and file
count, in TOML with a fixed key order, so ``git diff dvault.lock`` reads as "labels went
from 10,000 to 10,200 files". dvault rewrites it after every commit and checkout when the
project is inside a git work tree.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from dvault.commitobjects import Commit
from dvault.errors import UsageError
from dvault.fsutil import write_durable
from dvault.gitlink import find_git_root, read_file_at
from dvault.hashing import from_hex
from dvault.names import is_control, root_problem
from dvault.trees import EMPTY_TREE, lookup, walk

if TYPE_CHECKING:
    from dvault.store.objectstore import ObjectStore

LOCK_FILE = "dvault.lock"
HEADER = (
    "# dvault.lock: the data this git commit uses (see docs/git.md).\n"
    "# Written by dvault commit and dvault checkout; commit it with your code.\n"
)


class Project(Protocol):
    """What the pin asks of a project: where its work tree is (``dvault.lock`` lies at its
    root), and its commits and trees. The :class:`~dvault.repository.Repository` handle is
    one; this module, below the handle, names only what it uses."""

    @property
    def root(self) -> Path: ...

    @property
    def store(self) -> ObjectStore: ...

    def read_commit(self, oid: bytes) -> Commit: ...


@dataclass(frozen=True)
class RootPin:
    kind: str
    tree: str
    size: int
    files: int


@dataclass(frozen=True)
class Pin:
    commit: str
    roots: dict[str, RootPin] = field(default_factory=dict)

    def render(self) -> str:
        """Stable text: fixed key order, roots sorted by path."""
        lines = [HEADER, "version = 1", f"commit = {_quote(self.commit)}", ""]
        for path in sorted(self.roots):
            root = self.roots[path]
            lines += [
                f"[roots.{_quote(path)}]",
                f"kind = {_quote(root.kind)}",
                f"tree = {_quote(root.tree)}",
                f"size = {root.size}",
                f"files = {root.files}",
                "",
            ]
        return "\n".join(lines)

    @classmethod
    def parse(cls, text: bytes | str, where: str) -> Pin:
        try:
            value = tomllib.loads(text.decode() if isinstance(text, bytes) else text)
            roots = {
                path: RootPin(str(r["kind"]), str(r["tree"]), int(r["size"]), int(r["files"]))
                for path, r in value.get("roots", {}).items()
            }
            commit = str(value["commit"])
            from_hex(commit)  # a full id: a short one would be looked up, fetched, shown
        except (tomllib.TOMLDecodeError, KeyError, ValueError, TypeError, AttributeError) as e:
            raise UsageError(f"{where} is not a valid dvault.lock: {e}") from None
        for path, root in roots.items():  # a committed file: as hostile as a commit
            why = root_problem(path, root.kind)
            if why is not None:
                raise UsageError(f"{where} is not a valid dvault.lock: root {path!r}: {why}")
        return cls(commit, roots)


SHOWN = 5
"""Paths a pin warning names before "and N more"."""


@dataclass(frozen=True)
class PinState:
    """How the workspace stands against the commit ``dvault.lock`` pins: the one
    description ``status`` (and ``add``, ``diff``, ``commit``) print and ``status --json``
    gives (docs/cli.md)."""

    pinned: str | None
    """The commit dvault.lock names (hex); None when the file cannot be read (``error``)."""
    head: str | None
    """The commit the workspace is at (dvault's HEAD, hex); None before any checkout."""
    conflicts: tuple[str, ...] | None = ()
    """Paths with uncommitted content that ``dvault checkout --pin`` would overwrite;
    None when unknown (the pinned data is not in the local store yet)."""
    error: str | None = None

    @property
    def matches(self) -> bool:
        return self.error is None and self.pinned == self.head

    @property
    def state(self) -> str:
        if self.error is not None:
            return "invalid"
        if self.matches:
            return "match"
        return "not-checked-out" if self.head is None else "differs"

    def warning(self) -> str | None:
        """One line saying how the workspace differs from the pin, with the command that
        fixes it for this situation; None when it matches."""
        if self.error is not None:
            return f"{self.error}; the workspace was not compared with it"
        if self.matches or self.pinned is None:
            return None
        pinned = self.pinned[:12]
        where = "which is not checked out" if self.head is None else "the workspace is at"
        where = f"dvault.lock pins {pinned}, " + (
            where if self.head is None else f"{where} {self.head[:12]}"
        )
        if not self.conflicts:
            return f"{where}: run `dvault checkout --pin`"
        shown = ", ".join(self.conflicts[:SHOWN])
        more = f" and {len(self.conflicts) - SHOWN} more" if len(self.conflicts) > SHOWN else ""
        if self.head is None:
            return (
                f"{where}, and {len(self.conflicts)} file(s) here differ from it ({shown}{more}):"
                " move them away and run `dvault checkout --pin`, or overwrite them (a copy "
                "is kept in .dvault/lost+found) with `dvault checkout --force --pin`"
            )
        return (
            f"{where} with uncommitted changes the pin would overwrite in "
            f"{len(self.conflicts)} path(s) ({shown}{more}): to commit them where they belong, "
            "go back to that git branch (`git checkout -`) and commit there; to set them "
            "aside, run `dvault stash push && dvault checkout --pin`; to overwrite them (a "
            "copy is kept in .dvault/lost+found), run `dvault checkout --force --pin`"
        )

    def on_commit(self) -> str | None:
        """The line ``dvault commit`` prints once it has committed, when the workspace was
        not at the pin: the new commit builds on HEAD, not on the pinned data, and the pin
        moved to it."""
        if self.matches or self.pinned is None:
            return None
        if self.head is None:
            base = "the workspace has no data commit"
        else:
            base = f"the workspace is at {self.head[:12]}"
        return (
            f"dvault.lock pinned {self.pinned[:12]}, but {base}: this commit does not build "
            "on the pinned data, and dvault.lock now names it instead"
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "commit": self.pinned,
            "head": self.head,
            "state": self.state,
            "conflicts": None if self.conflicts is None else list(self.conflicts),
            "error": self.error,
        }


def _quote(text: str) -> str:
    """A TOML basic string: ``\\`` and ``"`` escaped, and every control character (and
    DEL and C1) as ``\\uXXXX``, so no value can end its line or start another."""
    out = []
    for char in text:
        if char in '"\\':
            out.append("\\" + char)
        elif is_control(char):
            out.append(f"\\u{ord(char):04x}")
        else:
            out.append(char)
    return '"' + "".join(out) + '"'


def pin_for(repo: Project, commit_id: bytes) -> Pin:
    """The pin describing ``commit_id``: each root's tree, bytes and file count."""
    commit = repo.read_commit(commit_id)
    roots = {}
    for path, kind in sorted(commit.roots.items()):
        entry = lookup(repo.store, commit.tree, path.encode())
        if entry is None:
            roots[path] = RootPin(kind, EMPTY_TREE.hex(), 0, 0)
            continue
        if entry.is_dir:
            files = 0
            if entry.id != EMPTY_TREE:
                files = sum(1 for _, leaf in walk(repo.store, entry.id) if not leaf.is_dir)
        else:
            files = 1
        roots[path] = RootPin(kind, entry.id.hex(), entry.size, files)
    return Pin(commit_id.hex(), roots)


def lock_path(repo: Project) -> Path:
    return repo.root / LOCK_FILE


def write(repo: Project, commit_id: bytes) -> bool:
    """Rewrite dvault.lock for ``commit_id`` when the project is in git; True if changed."""
    if find_git_root(repo.root) is None:
        return False
    text = pin_for(repo, commit_id).render()
    path = lock_path(repo)
    try:
        if path.read_text() == text:
            return False
    except FileNotFoundError:
        pass
    write_durable(path, text.encode())
    return True


def read(repo: Project) -> Pin | None:
    """The pin in the work tree, if any."""
    try:
        return Pin.parse(lock_path(repo).read_bytes(), LOCK_FILE)
    except FileNotFoundError:
        return None


def read_at_git_rev(repo: Project, rev: str) -> Pin | None:
    data = read_file_at(repo.root, rev, LOCK_FILE)
    return None if data is None else Pin.parse(data, f"{LOCK_FILE} at {rev}")


def as_json(pin: Pin) -> dict[str, Any]:
    return {
        "commit": pin.commit,
        "roots": {p: vars(r) for p, r in sorted(pin.roots.items())},
    }
