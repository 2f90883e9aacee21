"""Tracking: ``add``, ``rm`` and ``status``, and keeping tracked data out of git.

``add`` decides what becomes a tracked root (and of which kind) and stages it; ``rm``
stops tracking and, unless ``--cached``, deletes — but never work that exists nowhere
else, and never through a symlink. Both hold the writer lock for the stage edit; the
``.gitignore`` edit after it is git's file, not the repository's.
"""

from __future__ import annotations

import os
import re
import shlex
from collections.abc import Iterator
from pathlib import Path

from dvault.errors import UncommittedChanges, UsageError
from dvault.fsutil import write_durable
from dvault.gitlink import IGNORE_MARKER, find_git_root, ignore_pattern
from dvault.hashing import ObjectId
from dvault.names import KINDS, root_problem
from dvault.repository import Repository
from dvault.store import erased
from dvault.store.state import StageEntry
from dvault.workspace.checkout import current_content
from dvault.workspace.safety import SymlinkGuard, UnsafePath
from dvault.workspace.scan import under
from dvault.workspace.staging import StageReport, stage_paths, write_stage_trees
from dvault.workspace.status import Status, compute_status

_CHECKPOINT_SUFFIXES = (".pt", ".pth", ".ckpt", ".bin", ".safetensors", ".h5", ".onnx", ".pkl")


_MODEL_WORDS = frozenset({"model", "models", "weights", "checkpoints", "ckpts"})
"""Words in a root's last name that say it holds a trained model (``models``,
``best_model``, ``weights``): a model is a ``checkpoint``, never a ``dataset``."""


def guess_kind(path: str, is_file: bool) -> str:
    """A sensible default kind for a new tracked root; ``--kind`` overrides it."""
    name = path.lower()
    words = set(re.split(r"[^a-z0-9]+", name.rsplit("/", 1)[-1]))
    if (
        (is_file and name.endswith(_CHECKPOINT_SUFFIXES))
        or "checkpoint" in name
        or "ckpt" in name
        or words & _MODEL_WORDS
    ):
        return "checkpoint"
    if "label" in name or "annotation" in name:
        return "labels"
    return "dataset"


def add(
    repo: Repository,
    paths: list[str | Path],
    kind: str | None = None,
    replace_roots: bool = False,
) -> StageReport:
    """Track ``paths`` (new tracked roots unless already under one) and stage them.

    A new root that contains tracked roots replaces them (roots do not nest); when one of
    them has another kind, that kind would be lost, which is refused unless
    ``replace_roots``."""
    if kind is not None and kind not in KINDS:
        raise UsageError(f"unknown kind {kind!r}; choose one of {', '.join(KINDS)}")
    rels = [repo.relpath(p) for p in paths]
    with repo.locked():
        roots = repo.roots()
        for rel, given in zip(rels, paths, strict=True):
            text = os.fsdecode(rel)
            if not rel:
                raise UsageError("cannot track the whole project; add its data folders")
            covering = [r for r in roots if text == r or text.startswith(r + "/")]
            if covering:
                if kind is not None and text in roots:
                    roots[text] = kind
                continue
            if not os.path.lexists(repo.root / text):
                raise UsageError(f"path {given} does not exist")
            new_kind = kind or guess_kind(text, (repo.root / text).is_file())
            why = root_problem(text, new_kind)  # what a checkout would refuse as a root
            if why is not None:
                raise UsageError(f"cannot track {text!r}: {why}")
            inner = {r: k for r, k in roots.items() if r.startswith(text + "/")}
            lost = {r: k for r, k in inner.items() if k != new_kind}
            if lost and not replace_roots:
                raise UsageError(_replacing(text, new_kind, inner, lost, paths))
            for root in inner:
                del roots[root]  # the new root subsumes roots inside it
            roots[text] = new_kind
        report = stage_paths(repo, rels, "add", roots, sign=True)
        repo.state.set_roots(roots)
    update_gitignore(repo, list(roots))
    return report


def _replacing(
    text: str, kind: str, inner: dict[str, str], lost: dict[str, str], paths: list[str | Path]
) -> str:
    """The refusal of an add that would merge roots of other kinds into one."""
    replaced = ", ".join(f"{r} ({k})" for r, k in sorted(inner.items()))
    kinds = ", ".join(sorted(set(lost.values())))
    again = " ".join(shlex.quote(str(p)) for p in paths)
    return (
        f"adding {text} would replace the tracked roots {replaced} with one root {text} "
        f"({kind}), losing the kind {kinds}; to replace them run "
        f"`dvault add --replace-roots {again}`"
    )


def erased_again(repo: Repository, paths: list[str | Path] | None = None) -> list[str]:
    """One line for each staged file (under ``paths``; every one when None) whose content
    a redaction recorded here erased (store/erased.py): erasure is by content, so the
    same bytes added again are not kept by any remote (prune deletes them again). Said by
    ``add`` and ``commit``; nothing is read when this clone has no erasure record."""
    if not (repo.dir / erased.FILE).exists():
        return []
    scopes = None if paths is None else [repo.relpath(p) for p in paths]

    def files() -> Iterator[tuple[str, ObjectId]]:
        for path, entry in repo.state.iter_stage():
            if scopes is None or any(path == s or path.startswith(s + b"/") for s in scopes):
                yield os.fsdecode(path), entry.id

    return erased.again(repo.dir, files())


def rm(repo: Repository, paths: list[str | Path], cached: bool = False) -> list[str]:
    """Stop tracking ``paths``; without ``cached`` also delete them from the workspace."""
    rels = [repo.relpath(p) for p in paths]
    with repo.locked():
        stage = repo.state.stage()
        roots = repo.roots()
        removed = []
        for rel, given in zip(rels, paths, strict=True):
            doomed = [p for p in stage if under(p, rel)]
            if not doomed and os.fsdecode(rel) not in roots:
                raise UsageError(f"path {given} is not tracked")
            removed.extend(doomed)
            for r in [r for r in roots if under(os.fsencode(r), rel)]:
                del roots[r]
        if not cached:
            _refuse_unsaved(repo, removed, stage)
            _refuse_through_symlinks(repo, removed)
        for p in removed:
            del stage[p]
        with repo.store.writer() as writer:
            base = repo.state.stage_tree()
            tree = write_stage_trees(
                writer, lambda: sorted(stage.items()), base, dict.fromkeys(removed)
            )
        repo.state.update_stage(delete=removed, tree=tree)
        repo.state.set_roots(roots)
        if not cached:
            guard = SymlinkGuard(os.fsencode(repo.root))
            for p in removed:
                guard.remove(p)
    return [os.fsdecode(p) for p in removed]


def _refuse_through_symlinks(repo: Repository, paths: list[bytes]) -> None:
    """``rm`` never deletes below a symlink (``data/cache -> /big/disk``): refused
    before the stage changes."""
    guard = SymlinkGuard(os.fsencode(repo.root))
    for path in paths:
        link = guard.leading_symlink(path)
        if link is not None:
            raise UnsafePath(
                f"refusing to delete {os.fsdecode(path)!r}: {os.fsdecode(link)!r} is a "
                "symlink, and dvault never deletes through one (use rm --cached)"
            )


def _refuse_unsaved(repo: Repository, paths: list[bytes], stage: dict[bytes, StageEntry]) -> None:
    """``rm`` must not delete work that exists nowhere else (modified, unstaged files)."""
    unsaved = []
    for path in paths:
        now = current_content(repo, path, stage[path])
        if now is not None and not _same_content(now, stage[path]):
            unsaved.append(path)
    if unsaved:
        shown = ", ".join(os.fsdecode(p) for p in unsaved[:10])
        raise UncommittedChanges(
            f"{len(unsaved)} path(s) have changes not staged ({shown}); "
            "dvault add them first, or use rm --cached"
        )


def _same_content(now: StageEntry | str, staged: StageEntry) -> bool:
    """``now`` (an entry, or "dir" for a non-empty directory) holds what is staged."""
    return not isinstance(now, str) and now.mode == staged.mode and now.id == staged.id


def status(repo: Repository) -> Status:
    """Staged, modified, deleted and untracked paths."""
    return compute_status(repo)


def update_gitignore(repo: Repository, roots: list[str]) -> None:
    """Keep tracked data out of git: add each root to the git root's ``.gitignore``."""
    git_root = find_git_root(repo.root)
    if git_root is None or not roots:
        return
    path = git_root / ".gitignore"
    try:
        existing = path.read_text() if path.exists() else ""
    except OSError:
        return
    lines = set(existing.splitlines())
    prefix = repo.root.relative_to(git_root).as_posix()
    wanted = []
    for root in sorted(roots):
        rel = f"{prefix}/{root}" if prefix != "." else root
        entry = ignore_pattern(rel)
        if entry not in lines:
            wanted.append(entry)
    if not wanted:
        return
    text = existing
    if text and not text.endswith("\n"):
        text += "\n"
    if IGNORE_MARKER not in lines:
        text += IGNORE_MARKER + "\n"
    text += "\n".join(wanted) + "\n"
    write_durable(path, text.encode())
