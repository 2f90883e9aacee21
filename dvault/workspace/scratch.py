"""A scratch work tree: a revision's data beside a copy of the project's code, where
``rerun`` repeats a recorded command without touching the user's work tree.

The data comes from the store (:meth:`Scratch.put`: a tree or a file as a commit holds
it, every symlink checked as a checkout checks it). Everything else in the project is
laid out by :meth:`Scratch.lay_out`: files are copied (so a script that finds its data
from ``Path(__file__).resolve()`` finds the scratch copy, not the user's), except large
files, tool directories (a virtualenv, caches) and whatever exceeds a copy budget, which
are symlinked to the project's;
``.git`` and ``.dvault`` are left out, and so is every path the caller owns (the data and
the outputs). The scratch lives in ``.dvault/tmp`` (the same file system as the project)
and is removed by :meth:`Scratch.remove`.
"""

from __future__ import annotations

import os
import shutil
import stat
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from dvault.treeobjects import TreeEntry
from dvault.trees import walk
from dvault.workspace.fileio import write_temp
from dvault.workspace.safety import UnsafePath, link_problem

if TYPE_CHECKING:
    from dvault.store.objectstore import ObjectStore

COPY_LIMIT = 16 << 20
"""Files larger than this outside the data are symlinked, not copied: a model download or
a log is not code, and copying it would cost more than the rerun."""

COPY_BUDGET = 256 << 20
"""Bytes copied in all; past it, files are symlinked (untracked data outside the tracked
roots is not code either)."""

_LINKED_DIRS = frozenset(
    {
        ".venv",
        "venv",
        "env",
        "node_modules",
        "__pycache__",
        ".tox",
        ".nox",
        ".mypy_cache",
        ".pytest_cache",
        ".ruff_cache",
        ".ipynb_checkpoints",
    }
)
_LEFT_OUT = frozenset({".git", ".dvault"})


def _prefixes(path: str) -> list[str]:
    parts = path.split("/")
    return ["/".join(parts[:i]) for i in range(1, len(parts))]


class Scratch:
    """One scratch work tree under ``.dvault/tmp``."""

    def __init__(self, dvault_dir: Path) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="rerun-", dir=dvault_dir / "tmp"))
        self.copied = 0

    def put(self, store: ObjectStore, path: str, entry: TreeEntry) -> None:
        """Write ``entry`` (a tree or a file from a commit) at ``path`` in the scratch,
        replacing what was there."""
        full = self.root / path
        if os.path.lexists(full):
            if full.is_dir() and not full.is_symlink():
                shutil.rmtree(full)
            else:
                full.unlink()
        full.parent.mkdir(parents=True, exist_ok=True)
        leaves = (
            [(path.encode(), entry)] if not entry.is_dir else walk(store, entry.id, path.encode())
        )
        base = os.fsencode(self.root)
        for rel, leaf in leaves:
            target = os.path.join(base, rel)
            if leaf.is_dir:  # an empty directory
                os.makedirs(target, exist_ok=True)
                continue
            os.makedirs(os.path.dirname(target), exist_ok=True)
            if leaf.is_link:
                why = link_problem(rel, store.read_file_content(leaf.id))
                if why is not None:
                    raise UnsafePath(f"refusing to write symlink {os.fsdecode(rel)!r}: {why}")
            os.rename(write_temp(store, target, leaf), target)

    def lay_out(self, project: Path, owned: Iterable[str], real_dirs: Iterable[str]) -> None:
        """Copy (or link) the project's files that are not ``owned`` into the scratch;
        each directory in ``real_dirs`` (and its parents) is made a real directory, never
        a link, so a command run there does not climb back into the project."""
        owned_set = set(owned)
        ancestors = {p for o in owned_set for p in _prefixes(o)}
        for d in real_dirs:
            if d and d != ".":
                ancestors.update([*_prefixes(d), d])
        self._lay_out_dir(project, "", owned_set, ancestors)

    def _lay_out_dir(self, project: Path, rel: str, owned: set[str], ancestors: set[str]) -> None:
        source = project / rel if rel else project
        (self.root / rel).mkdir(parents=True, exist_ok=True)
        with os.scandir(source) as it:
            entries = sorted(it, key=lambda e: e.name)
        for entry in entries:
            child = f"{rel}/{entry.name}" if rel else entry.name
            if child in owned or (not rel and entry.name in _LEFT_OUT):
                continue
            st = entry.stat(follow_symlinks=False)
            dest = self.root / child
            if child in ancestors and stat.S_ISDIR(st.st_mode):
                self._lay_out_dir(project, child, owned, ancestors)
            elif stat.S_ISLNK(st.st_mode):
                os.symlink(os.readlink(entry.path), dest)  # as the project has it
            elif stat.S_ISDIR(st.st_mode):
                if entry.name in _LINKED_DIRS or (Path(entry.path) / "pyvenv.cfg").exists():
                    os.symlink(entry.path, dest)
                else:
                    self._lay_out_dir(project, child, owned, ancestors)
            elif stat.S_ISREG(st.st_mode):
                if st.st_size > COPY_LIMIT or self.copied + st.st_size > COPY_BUDGET:
                    os.symlink(entry.path, dest)
                else:
                    shutil.copy2(entry.path, dest, follow_symlinks=False)
                    self.copied += st.st_size

    def remove(self) -> None:
        """Delete the scratch (links are removed, never followed)."""
        shutil.rmtree(self.root, ignore_errors=True)
