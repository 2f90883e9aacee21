"""What checkout refuses to write, whatever a tree or a commit (from a remote, or forged)
says.

Tree entry names are already validated when a tree is decoded (never empty, ``.``, ``..``,
or containing ``/`` or NUL; :func:`dvault.names.check_name`), and a commit's tracked
roots when it is decoded (:func:`dvault.names.check_root`). Here are the rules that
depend on the path as a whole, on the commit and on the work tree's file system, checked
for every path a checkout is about to write or remove, *before* anything is written:

* every written path is at or under one of the target commit's tracked roots: a data
  commit can write data, never ``conftest.py``, ``.envrc``, ``.github/workflows/...``
  or ``.dvaultsigners`` (roots cannot name such files: :data:`dvault.names.PROJECT_FILES`);
* a checkout that would make the project track roots it never tracked names them and
  stops, unless the user accepts them (``--accept-roots``; :func:`adopted_roots`);
* no path component is ``.git`` or ``.dvault`` (a planted git hook, or a second repository);
* no path is written, created or removed below a symlink that is in the work tree (git's
  ``has_symlink_leading_path``: :class:`SymlinkGuard`), so a ``data/cache -> /big/disk``
  link, or ``x -> .`` from an earlier commit, never carries a write out of the project;
* a symlink's target is relative, non-empty, climbs (``..``) only at its start and no
  higher than the link's own directory, and does not lead into ``.git`` or ``.dvault``.
  ``..`` after a name is refused because the name might itself be a symlink (``b -> .``
  makes ``b/b/../..`` climb two levels although it reads as none);
* on a case-insensitive or normalization-insensitive file system (probed once, or forced
  with ``checkout.case-insensitive = true`` in ``.dvault/config``): no two names in one
  directory that the file system would treat as one (``Data`` and ``data``, NFC and NFD
  spellings of ``é``), and no component (nor root) that the file system treats as ``.git``
  or ``.dvault`` (``.GIT``, ``.git.``, ``.g\u200cit`` on HFS+). On a case-sensitive file
  system such names are distinct files and are checked out as they are.
"""

from __future__ import annotations

import contextlib
import os
import stat
from collections.abc import Iterable, Mapping

from dvault import config as cfg
from dvault.commitobjects import Commit
from dvault.errors import CorruptObject, UsageError
from dvault.hashing import ObjectId
from dvault.names import RESERVED as RESERVED  # re-exported: its home is dvault.names
from dvault.names import check_root, reserved_name
from dvault.names import fold as fold  # re-exported
from dvault.repository import Repository
from dvault.treeobjects import TreeEntry
from dvault.trees import Change, find_entry, lookup, read_tree

MAX_LINK_TARGET = 4095
"""PATH_MAX less the terminating NUL: no file system stores a longer symlink target."""


class UnsafePath(CorruptObject):
    """A tree entry that checkout refuses to write: it could escape or subvert the work
    tree (a hostile or damaged tree). Nothing is written."""


def link_problem(path: bytes, target: bytes, insensitive: bool = False) -> str | None:
    """Why the symlink ``path -> target`` must not be created, or None when it is safe."""
    if not target or b"\0" in target or len(target) > MAX_LINK_TARGET:
        return "its target is empty, too long or holds a NUL byte"
    if target.startswith(b"/"):
        return "it points outside the work tree (absolute target)"
    depth = path.count(b"/")  # directories between the link and the work-tree root
    named = False
    for part in target.split(b"/"):
        if part in (b"", b"."):
            continue
        if part == b"..":
            if named:
                return "'..' after a name could lead outside the work tree"
            depth -= 1
            if depth < 0:
                return "it points outside the work tree"
        else:
            named = True
            if reserved_name(part, insensitive):
                return f"it points into {os.fsdecode(part)}"
    return None


def probe_case_insensitive(directory: str | os.PathLike[str]) -> bool:
    """Whether the file system holding ``directory`` treats names differing in case, or in
    Unicode normalization (NFC vs NFD, as macOS does), as the same file."""
    token = os.urandom(4).hex()
    probes = [
        (f".case-probe-{token}-aB", f".CASE-PROBE-{token}-Ab"),
        (f".norm-probe-{token}-\u00e9", f".norm-probe-{token}-e\u0301"),
    ]
    found = False
    for created, other in probes:
        path = os.path.join(directory, created)
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
        except (OSError, UnicodeEncodeError):
            continue
        os.close(fd)
        try:
            found = found or os.path.lexists(os.path.join(directory, other))
        finally:
            with contextlib.suppress(OSError):
                os.unlink(path)
    return found


def case_insensitive(repo: Repository) -> bool:
    """The ``checkout.case-insensitive`` setting: ``auto`` (default) probes the work tree,
    once per open handle (the answer is kept in ``repo.folds_names``)."""
    setting = cfg.get(repo.config, "checkout.case-insensitive", "auto")
    if isinstance(setting, bool):
        return setting
    if setting != "auto":
        raise UsageError(
            f'checkout.case-insensitive must be true, false or "auto", not {setting!r}'
        )
    if repo.folds_names is None:
        repo.folds_names = probe_case_insensitive(repo.dir / "tmp")
    return repo.folds_names


def check_changes(
    repo: Repository,
    changes: list[Change],
    target_tree: ObjectId,
    roots: Mapping[str, str],
    guard: SymlinkGuard | None = None,
) -> None:
    """Refuse the checkout (before anything is written) if any path it would write or
    remove is unsafe; the error names the first few such paths. ``roots`` are the target
    commit's tracked roots: every written path must be at or under one of them."""
    insensitive = case_insensitive(repo)
    for path, kind in roots.items():  # decoded commits are checked; here also the FS's folds
        check_root(path, kind, insensitive)
    covered = RootCover(roots)
    guard = guard or SymlinkGuard(os.fsencode(repo.root))
    problems: list[str] = []
    written = [c for c in changes if c.new is not None]
    removed = {c.path for c in changes if c.new is None}
    for change in written:
        assert change.new is not None
        shown = os.fsdecode(change.path)
        bad = next((p for p in change.path.split(b"/") if reserved_name(p, insensitive)), None)
        if bad is not None:
            problems.append(f"{shown!r} ({os.fsdecode(bad)} is reserved)")
        elif not covered(change.path):
            problems.append(f"{shown!r} (not under any tracked root of that commit)")
        elif change.new.is_link:
            target = repo.store.read_file_content(change.new.id)
            why = link_problem(change.path, target, insensitive)
            if why is not None:
                problems.append(f"symlink {shown!r} -> {os.fsdecode(target)!r}: {why}")
        if len(problems) > _MAX_SHOWN:
            break
    if len(problems) <= _MAX_SHOWN:
        problems += guard.problems((c.path for c in changes), removed)
    if insensitive and not problems:
        problems.extend(_collisions(repo, target_tree, (c.path for c in written)))
    if problems:
        more = " (and more)" if len(problems) > _MAX_SHOWN else ""
        raise UnsafePath(
            f"refusing to check out {'; '.join(problems[:_MAX_SHOWN])}{more}: the commit is "
            "hostile or damaged, or the work tree holds a symlink in the way; nothing was written"
        )


_MAX_SHOWN = 3


class RootCover:
    """Whether a path is at or under one of a set of tracked roots: one set lookup per
    path (its parent directory's answer is cached), however many roots there are."""

    def __init__(self, roots: Iterable[str]) -> None:
        self.roots = {os.fsencode(r) for r in roots}
        self.dirs: dict[bytes, bool] = {b"": False}

    def __call__(self, path: bytes) -> bool:
        if path in self.roots:
            return True
        return self._dir(path.rpartition(b"/")[0])

    def _dir(self, directory: bytes) -> bool:
        chain = []
        while directory not in self.dirs:
            chain.append(directory)
            directory = directory.rpartition(b"/")[0]
        answer = self.dirs[directory]
        for d in reversed(chain):
            answer = answer or d in self.roots
            self.dirs[d] = answer
        return answer


class SymlinkGuard:
    """Never write, create or remove below a symlink (git's ``has_symlink_leading_path``).

    Every directory above a path is ``lstat``-ed once per checkout (answers are cached
    per directory, so a million files in a few directories cost a few calls); a symlink
    there, left by an earlier checkout (``x -> .``) or made by the user (``data/cache ->
    /big/disk``), refuses the checkout before it writes. :meth:`makedirs` creates
    directories one component at a time and refuses a symlink met on the way, so the
    rule also holds after the checkout's own removals. A concurrent local process that
    swaps a directory for a symlink between the check and the write is outside the threat
    model (it can already write the work tree)."""

    def __init__(self, root: bytes) -> None:
        self.root = root
        self.links: dict[bytes, bytes | None] = {b"": None}
        """Directory -> the first symlink at or above it (None: none, or it is absent)."""
        self.made: set[bytes] = {b""}
        """Directories :meth:`makedirs` made or found to be real directories."""

    def leading_symlink(self, path: bytes) -> bytes | None:
        """The first directory above ``path`` (not ``path`` itself) that is a symlink."""
        directory = path.rpartition(b"/")[0]
        chain = []
        while directory not in self.links:
            chain.append(directory)
            directory = directory.rpartition(b"/")[0]
        found = self.links[directory]
        for d in reversed(chain):
            if found is None:
                try:
                    st = os.lstat(os.path.join(self.root, d))
                except (FileNotFoundError, NotADirectoryError):
                    st = None  # absent: nothing below it exists either
                if st is not None and stat.S_ISLNK(st.st_mode):
                    found = d
            self.links[d] = found
        return found

    def problems(self, paths: Iterable[bytes], removed: set[bytes]) -> list[str]:
        """Paths below a symlink (one this checkout removes before writing excepted); at
        most a few, for the error message."""
        found: list[str] = []
        for path in paths:
            link = self.leading_symlink(path)
            if link is not None and link not in removed:
                found.append(
                    f"{os.fsdecode(path)!r} ({os.fsdecode(link)!r} is a symlink: checkout "
                    "never writes or removes through one)"
                )
                if len(found) > _MAX_SHOWN:
                    break
        return found

    def makedirs(self, directory: bytes) -> None:
        """``os.makedirs`` that never follows a symlink: each missing component is made
        with ``mkdir``, each existing one must be a real directory (UnsafePath if not)."""
        if directory in self.made:
            return
        path = b""
        for part in directory.split(b"/"):
            path = path + b"/" + part if path else part
            if path in self.made:
                continue
            full = os.path.join(self.root, path)
            try:
                os.mkdir(full)
            except FileExistsError:
                st = os.lstat(full)
                if stat.S_ISLNK(st.st_mode):
                    raise UnsafePath(
                        f"refusing to write below {os.fsdecode(path)!r}: it is a symlink, and "
                        "checkout never writes through one"
                    ) from None
                if not stat.S_ISDIR(st.st_mode):
                    raise
            self.made.add(path)

    def remove(self, path: bytes) -> None:
        """Remove the file or symlink at ``path`` (an empty directory: rmdir; a full one
        is left, it holds other work), unless a symlink is above it (UnsafePath)."""
        link = self.leading_symlink(path)
        if link is not None:
            raise UnsafePath(
                f"refusing to remove {os.fsdecode(path)!r}: {os.fsdecode(link)!r} is a "
                "symlink, and dvault never removes through one"
            )
        full = os.path.join(self.root, path)
        with contextlib.suppress(FileNotFoundError):
            if stat.S_ISDIR(os.lstat(full).st_mode):
                with contextlib.suppress(OSError):
                    os.rmdir(full)
            else:
                os.unlink(full)


class NewRoots(UsageError):
    """A checkout would make the project track roots it never tracked (exit 2)."""


def adopted_roots(
    repo: Repository,
    target: Commit,
    known: Iterable[str],
    accept: bool,
    fresh: bool,
) -> dict[str, str]:
    """The tracked roots the project has after checking out ``target``.

    A root the project has never tracked (``known``: ``WorkspaceState.accepted_roots``;
    nor any root above it) is *new*: following it would make the next ``commit -a`` stage
    whatever the user keeps there (``.env``, a token file). New roots need the user's
    ``accept``; otherwise :class:`NewRoots` names them and nothing is written. A
    ``fresh`` project (no data commit and nothing ever tracked: a clone, or a git clone's
    first ``pull``) asked for that repository's data, as ``git clone`` takes a
    repository's files: it adopts the target's roots that its tree holds; a root naming
    nothing in the tree is not adopted (it would only wait for the user's own files; a
    commit can hold one when a root's files were all deleted)."""
    cover = RootCover(known)
    new = {p: k for p, k in target.roots.items() if not cover(os.fsencode(p))}
    if not new or accept:
        return dict(target.roots)
    if fresh:
        return {
            p: k
            for p, k in target.roots.items()
            if p not in new or lookup(repo.store, target.tree, os.fsencode(p)) is not None
        }
    shown = ", ".join(f"{p!r} ({k})" for p, k in sorted(new.items())[:_MAX_SHOWN])
    more = f" and {len(new) - _MAX_SHOWN} more" if len(new) > _MAX_SHOWN else ""
    raise NewRoots(
        f"that commit would make this project track {len(new)} root(s) it never tracked: "
        f"{shown}{more}; the next commit -a would then stage whatever is there. Nothing was "
        "written; if you expect these roots, repeat with --accept-roots"
    )


def _collisions(repo: Repository, tree: ObjectId, paths: Iterable[bytes]) -> list[str]:
    """Sibling names the case-insensitive work tree would merge, in every directory a
    checkout writes into (and every directory above one)."""
    directories: set[bytes] = set()
    for path in paths:
        while path:
            path = path.rpartition(b"/")[0]
            if path in directories:
                break
            directories.add(path)
    trees: dict[bytes, ObjectId | None] = {b"": tree}

    def tree_of(directory: bytes) -> ObjectId | None:
        """The tree of ``directory``, looked up from the nearest known ancestor down (a
        loop, not recursion: a path may have a thousand components)."""
        chain = []
        while directory not in trees:
            chain.append(directory)
            directory = directory.rpartition(b"/")[0]
        for d in reversed(chain):
            parent_tree = trees[d.rpartition(b"/")[0]]
            entry: TreeEntry | None = None
            if parent_tree is not None:
                entry = find_entry(repo.store, parent_tree, d.rpartition(b"/")[2])
            trees[d] = entry.id if entry is not None and entry.is_dir else None
        return trees[chain[0]] if chain else trees[directory]

    problems = []
    for directory in sorted(directories):
        oid = tree_of(directory)
        if oid is None:
            continue
        seen: dict[str, bytes] = {}
        for entry in read_tree(repo.store, oid).entries:  # every shard of a sharded one
            key = fold(entry.name)
            if key in seen:
                a, b = (os.fsdecode(os.path.join(directory, n)) for n in (seen[key], entry.name))
                problems.append(f"{a} and {b} (the same name on this case-insensitive file system)")
            else:
                seen[key] = entry.name
    return problems
