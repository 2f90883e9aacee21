"""Restore damaged refs from their history: the ref's own reflog, then what each remote's
verified ref log last said. A ref file holds no data, only a pointer, so a damaged one is
rebuilt from the newest recorded value whose commit is present and complete."""

from __future__ import annotations

import json

from dvault.errors import CorruptObject, DvaultError, MissingObject
from dvault.hashing import ObjectId, ObjectType
from dvault.reachability import walk
from dvault.refs import HEADS, TAGS
from dvault.repository import Repository


def damaged_refs(repo: Repository) -> dict[str, str]:
    """Refs that cannot be read or point at an object the store lacks (ref -> why), and
    HEAD when it cannot be read or names a branch that no longer exists although HEAD
    has a history (a fresh repository's HEAD names an unborn branch, legitimately)."""
    good, bad = repo.refs.scan()
    store = repo.store
    for ref, oid in good.items():
        if store.type_of(oid) is None:
            bad[ref] = f"ref {ref} points at {oid.hex()}, which is not in the store"
    try:
        branch, head = repo.refs.head()
        if head is None and branch is not None and repo.refs.reflog("HEAD"):
            bad["HEAD"] = f"HEAD names branch {branch!r}, which does not exist"
    except CorruptObject as exc:
        if _head_names(repo) not in bad:  # HEAD is fine; the branch it names is not
            bad["HEAD"] = str(exc)
    return bad


def _head_names(repo: Repository) -> str | None:
    try:
        text = (repo.dir / "HEAD").read_text().strip()
    except (OSError, UnicodeDecodeError):
        return None
    return text[5:] if text.startswith("ref: ") else None


def _read(repo: Repository, ref: str) -> ObjectId | None:
    try:
        return repo.refs.read(ref)
    except CorruptObject:
        return None


def _complete(repo: Repository, oid: ObjectId, kinds: tuple[ObjectType, ...]) -> bool:
    store = repo.store
    if store.type_of(oid) not in kinds:
        return False
    try:
        return not walk(store.get_raw, store.type_of, [oid]).missing
    except (CorruptObject, MissingObject, DvaultError):
        return False


def _remote_values(repo: Repository, ref: str) -> list[ObjectId]:
    """What each remote's last verified ref log says ``ref`` is (no network needed)."""
    found = []
    for path in sorted((repo.dir / "remotes").glob("*/log.json")):
        try:
            value = json.loads(path.read_text())["refs"].get(ref)
            if value is not None:
                found.append(ObjectId(bytes.fromhex(value)))
        except (ValueError, KeyError, TypeError, AttributeError, OSError):
            continue
    return found


def _candidates(repo: Repository, ref: str) -> list[tuple[ObjectId, str]]:
    """Values ``ref`` had, newest first, each with where it was recorded."""
    found = [(e.new, "its reflog") for e in reversed(repo.refs.reflog(ref)) if e.new]
    if ref.startswith((HEADS, TAGS)):
        found += [(oid, "the remote ref log") for oid in _remote_values(repo, ref)]
    return found


def restore_refs(repo: Repository, unreadable_only: bool) -> tuple[list[str], list[str]]:
    """Restore damaged refs; returns (what was restored, what was lost).

    ``unreadable_only`` restores refs whose file does not parse (and HEAD) and leaves refs
    that point at a missing object, which fetching from a remote may still bring back.
    When such a ref holds the value its reflog last recorded, the commit itself is lost:
    the ref moves back to its newest complete value and the loss is reported.
    """
    restored: list[str] = []
    lost: list[str] = []
    bad = damaged_refs(repo)
    for ref, why in sorted(bad.items()):
        if ref == "HEAD":
            continue  # after the branches: HEAD re-attaches to a restored branch
        dangling = _read(repo, ref)
        if unreadable_only and dangling is not None:
            continue
        kinds: tuple[ObjectType, ...] = (ObjectType.COMMIT,)
        if ref.startswith(TAGS):
            kinds = (ObjectType.COMMIT, ObjectType.TAG)
        candidates = _candidates(repo, ref)
        lossy = dangling is not None and bool(candidates) and candidates[0][0] == dangling
        for oid, source in candidates:
            if _complete(repo, oid, kinds):
                repo.refs.restore(ref, oid, f"repair: restored from {source}")
                restored.append(f"{ref} restored to {oid.hex()[:12]} from {source} ({why})")
                if lossy and dangling is not None:
                    lost.append(
                        f"{ref} pointed at {dangling.hex()}, which is lost (no remote has it); "
                        f"moved back to {oid.hex()[:12]}, its newest complete value"
                    )
                break
        else:
            lost.append(f"{why}; neither its reflog nor a remote records a complete commit")
    if "HEAD" in bad:
        restored_head = _restore_head(repo)
        if restored_head:
            restored.append(f"HEAD {restored_head} ({bad['HEAD']})")
        else:
            lost.append(f"{bad['HEAD']}; its reflog records no complete commit")
    return restored, lost


def _restore_head(repo: Repository) -> str | None:
    """Point HEAD at the branch whose tip is HEAD's last recorded commit (detached at
    that commit when no branch is there); None when the reflog holds nothing usable."""
    for oid, _ in _candidates(repo, "HEAD"):
        if not _complete(repo, oid, (ObjectType.COMMIT,)):
            continue
        good, _ = repo.refs.scan()
        branches = [
            r[len(HEADS) :] for r, tip in good.items() if r.startswith(HEADS) and tip == oid
        ]
        if branches:
            name = "main" if "main" in branches else branches[0]
            repo.refs.restore("HEAD", name, "repair: restored from its reflog")
            return f"re-attached to branch {name} at {oid.hex()[:12]}"
        repo.refs.restore("HEAD", oid, "repair: restored from its reflog")
        return f"detached at {oid.hex()[:12]}, its last recorded commit"
    return None
