"""What checkout refuses to write, whatever a tree (from a remote, or forged) says.

Tree entry names are already validated when a tree is decoded (never empty, ``.``, ``..``,
or containing ``/`` or NUL; :func:`dvault.objects.check_name`). Here are the rules that
depend on the path as a whole and on the work tree's file system, checked for every path a
checkout is about to write, *before* anything is written:

* no path component is ``.git`` or ``.dvault`` (a planted git hook, or a second repository);
* a symlink's target is relative, non-empty, climbs (``..``) only at its start and no
  higher than the link's own directory, and does not lead into ``.git`` or ``.dvault``.
  ``..`` after a name is refused because the name might itself be a symlink (``b -> .``
  makes ``b/b/../..`` climb two levels although it reads as none);
* on a case-insensitive or normalization-insensitive file system (probed once, or forced
  with ``checkout.case-insensitive = true`` in ``.dvault/config``): no two names in one
  directory that the file system would treat as one (``Data`` and ``data``, NFC and NFD
  spellings of ``é``), and no component that the file system treats as ``.git`` or
  ``.dvault`` (``.GIT``, ``.git.``, ``.g\u200cit`` on HFS+). On a case-sensitive file system
  such names are distinct files and are checked out as they are.
"""

from __future__ import annotations

import contextlib
import os
import unicodedata
from collections.abc import Iterable
from typing import TYPE_CHECKING

from dvault.errors import CorruptObject, UsageError
from dvault.hashing import ObjectId
from dvault.objects import TreeEntry
from dvault.trees import Change, find_entry, read_tree

if TYPE_CHECKING:
    from dvault.repo import Repo

RESERVED = (b".git", b".dvault")
MAX_LINK_TARGET = 4095
"""PATH_MAX less the terminating NUL: no file system stores a longer symlink target."""

# code points HFS+ ignores in file names (git's is_hfs_dotgit list)
_HFS_IGNORED = dict.fromkeys(
    [*range(0x200C, 0x2010), *range(0x202A, 0x202F), *range(0x206A, 0x2070), 0xFEFF]
)


class UnsafePath(CorruptObject):
    """A tree entry that checkout refuses to write: it could escape or subvert the work
    tree (a hostile or damaged tree). Nothing is written."""


def fold(name: bytes) -> str:
    """The name as a case- and normalization-insensitive file system compares it."""
    text = name.decode("utf-8", "surrogateescape").translate(_HFS_IGNORED)
    return unicodedata.normalize("NFC", unicodedata.normalize("NFD", text).casefold())


def _reserved(name: bytes, insensitive: bool) -> bool:
    if name in RESERVED:
        return True
    if not insensitive:
        return False
    # NTFS also drops trailing dots and spaces: ".git." is ".git"
    return fold(name).rstrip(". ") in (".git", ".dvault")


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
            if _reserved(part, insensitive):
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


def case_insensitive(repo: Repo) -> bool:
    """The ``checkout.case-insensitive`` setting: ``auto`` (default) probes the work tree."""
    from dvault import config as cfg

    setting = cfg.get(repo.config, "checkout.case-insensitive", "auto")
    if isinstance(setting, bool):
        return setting
    if setting != "auto":
        raise UsageError(
            f'checkout.case-insensitive must be true, false or "auto", not {setting!r}'
        )
    cached: bool | None = getattr(repo, "_case_insensitive", None)
    if cached is None:
        cached = probe_case_insensitive(repo.dir / "tmp")
        repo._case_insensitive = cached  # type: ignore[attr-defined]
    return cached


def check_changes(repo: Repo, changes: list[Change], target_tree: ObjectId) -> None:
    """Refuse the checkout (before anything is written) if any path it would write is
    unsafe; the error names the first few such paths."""
    insensitive = case_insensitive(repo)
    problems: list[str] = []
    written = [c for c in changes if c.new is not None]
    for change in written:
        assert change.new is not None
        shown = os.fsdecode(change.path)
        bad = next((p for p in change.path.split(b"/") if _reserved(p, insensitive)), None)
        if bad is not None:
            problems.append(f"{shown} ({os.fsdecode(bad)} is reserved)")
        elif change.new.is_link:
            target = repo.store.read_file_content(change.new.id)
            why = link_problem(change.path, target, insensitive)
            if why is not None:
                problems.append(f"symlink {shown} -> {os.fsdecode(target)}: {why}")
    if insensitive:
        problems.extend(_collisions(repo, target_tree, (c.path for c in written)))
    if problems:
        more = f" (and {len(problems) - 3} more)" if len(problems) > 3 else ""
        raise UnsafePath(
            f"refusing to check out {'; '.join(problems[:3])}{more}: the tree is hostile or "
            "damaged; nothing was written"
        )


def _collisions(repo: Repo, tree: ObjectId, paths: Iterable[bytes]) -> list[str]:
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
        if directory not in trees:
            parent, _, name = directory.rpartition(b"/")
            parent_tree = tree_of(parent)
            entry: TreeEntry | None = None
            if parent_tree is not None:
                entry = find_entry(repo.store, parent_tree, name)
            trees[directory] = entry.id if entry is not None and entry.is_dir else None
        return trees[directory]

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
