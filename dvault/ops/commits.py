"""Commits, tags and branches: the operations that write history.

``commit`` records the stage as a commit with its lineage (where the data came from:
docs/lineage.md) and keeps ``dvault.lock``, the git-side pin, in step. The order is the
durability order: the pack holding the commit is sealed and indexed before any ref
points at it, and the pin is rewritten only after the ref moved.
"""

from __future__ import annotations

import getpass
import os
import socket
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from dvault import config as cfg
from dvault import gitlink, pins, signing
from dvault.commitobjects import Commit, Tag
from dvault.envcapture import capture
from dvault.environment import META_KEY as ENV_KEY
from dvault.environment import Environment, Recorded, load
from dvault.errors import (
    CheckFailed,
    DvaultError,
    InvalidName,
    NothingToCommit,
    RefExists,
    UsageError,
)
from dvault.hashing import ObjectId, ObjectType
from dvault.identity import author
from dvault.refs import HEADS, TAGS, check_ref_name
from dvault.repository import Repository
from dvault.revisions import merge_base
from dvault.secretargs import redact_argv
from dvault.signing import SignatureCheck, SignedObject, Signers
from dvault.store.objectstore import ObjectWriter
from dvault.trees import lookup
from dvault.workspace.mergestate import refuse_if_merging
from dvault.workspace.staging import stage_paths

Signer = Callable[[SignedObject], SignedObject]


def commit(
    repo: Repository,
    message: str,
    all: bool = False,
    meta: dict[str, Any] | None = None,
    allow_empty: bool = False,
    inputs: list[str] | None = None,
    sources: list[str | Path] | None = None,
    sign: bool = False,
    key: str | None = None,
    notify: Callable[[str], None] | None = None,
    input_records: list[dict[str, Any]] | None = None,
    environment: Environment | None = None,
) -> ObjectId:
    """Record the stage as a new commit on the current branch; returns its id.

    ``input_records`` replace ``inputs`` when the caller resolved them already
    (:func:`resolve_inputs`; ``run`` adds what the work tree held). ``environment``
    (captured by the caller, before the lock: dvault/envcapture.py) is stored as its own
    object and named in ``meta.env`` (dvault/environment.py).

    In a git work tree the current branch is first made the dvault branch named like the
    git branch checked out (:func:`plan_git_branch`); ``notify`` hears what that did."""
    if not message.strip():
        raise UsageError("empty commit message; use -m MESSAGE")
    if meta and ENV_KEY in meta:
        raise UsageError(
            f"meta key {ENV_KEY!r} names the captured environment object; "
            "use commit --env to record one"
        )
    signer = signer_for(sign, key)
    with repo.locked():
        refuse_if_merging(repo, "a commit (use dvault merge --continue)")
        move = plan_git_branch(repo)  # a refusal comes before anything is staged
        roots = repo.roots()
        if all:
            if not roots:
                raise NothingToCommit("nothing tracked yet; use dvault add PATH")
            stage_paths(repo, [os.fsencode(r) for r in roots], "commit", sign=True)
        tree = repo.state.stage_tree()
        _, head = repo.refs.head()
        parent = repo.read_commit(head) if head else None
        if tree is None or (
            not allow_empty and parent is not None and parent.tree == tree and parent.roots == roots
        ):
            raise NothingToCommit("nothing to commit (use dvault add, or commit -a)")
        if move is not None:  # HEAD's commit stays the parent: only which ref advances
            moved = move()
            if notify is not None:
                notify(moved)
        with repo.store.writer() as writer:
            lineage = lineage_meta(repo, writer, inputs or [], sources or [], input_records)
            lineage.update(meta or {})
            if environment is not None:
                lineage[ENV_KEY] = writer.put_raw(ObjectType.BLOB, environment.encode()).hex()
            new = Commit(
                tree=tree,
                parents=(head,) if head else (),
                author=author(repo.config, repo.root),
                time_ns=time.time_ns(),
                message=message,
                roots=roots,
                meta=lineage,
            )
            oid = writer.put(new if signer is None else signer(new))
        # pack sealed and indexed above; only now may a ref point at the commit
        repo.refs.update_head_target(oid, f"commit: {message.splitlines()[0]}")
        write_lock(repo, oid)
    return oid


def environment(repo: Repository, oid: bytes) -> Recorded:
    """The environment commit ``oid`` records, checked as hostile: ``status`` captured,
    not recorded, or refused with the reason in one line."""
    return load(repo.store.get_raw, repo.store.type_of, repo.read_commit(oid).meta)


def capture_environment(repo: Repository) -> Environment:
    """The environment a ``commit --env`` records: the Python on PATH (the activated
    virtualenv's), its packages, and the lock files at the project root."""
    return capture(None, repo.root, repo.root)


def plan_git_branch(repo: Repository) -> Callable[[], str] | None:
    """Where a data commit made now belongs, in a git work tree: the dvault branch named
    like the git branch checked out, so that data committed while git is on ``exp`` never
    advances dvault's ``main``. Checked now, done later by calling the result (so a
    refusal comes before anything is staged or written), which moves the refs and returns
    one line saying what moved; None when nothing is to move (outside git,
    ``[git] follow_branches = false``, or HEAD already on that branch).

    * the branch does not exist: created at HEAD's commit (the data being built on);
    * it exists at HEAD's commit: HEAD attaches to it;
    * it is behind HEAD's commit and the ``dvault.lock`` committed at git's HEAD pins
      HEAD's commit (git says this branch holds that data: a pin the hooks
      materialised, a git merge): it is fast-forwarded and HEAD attaches (the branch
      only moves forward);
    * otherwise (the data is another branch's, or the branch is ahead or diverged):
      refused (CheckFailed), since committing there would carry the other branch's data
      onto it, or rewrite it;
    * git's HEAD is detached: the commit is made on a detached dvault HEAD, so that no
      branch moves (dvault.lock pins it, as a pin materialised by the hooks is).

    HEAD's commit never changes: the workspace and the stage are untouched."""
    if cfg.get(repo.config, "git.follow_branches", True) is False:
        return None
    git = gitlink.checked_out(repo.root)
    if git is None:
        return None
    current, head = repo.refs.head()
    wanted = git.branch
    refs = repo.refs
    if wanted is None:
        if current is None or head is None:
            return None
        at = head

        def detach() -> str:
            refs.set_head(None, at, "commit: git HEAD is detached")
            return (
                f"git HEAD is detached: committing on a detached data HEAD at {at.hex()[:12]} "
                f"(data branch {current} not moved)"
            )

        return detach
    if wanted == current:
        return None
    try:
        check_ref_name(wanted)
    except InvalidName:
        raise UsageError(
            f"git branch {wanted!r} is not a valid dvault branch name; nothing committed"
        ) from None
    name = wanted
    came_from = f"{current}" if current is not None else "detached HEAD"
    clash = next((b for b in refs.branches() if _nested(b, name) or _nested(name, b)), None)
    if clash is not None:  # refs/heads/a and refs/heads/a/b cannot both be files
        raise UsageError(
            f"git branch {name!r} cannot have a data branch: data branch {clash!r} "
            "exists, and one branch name cannot be a folder of the other; nothing committed"
        )
    tip = refs.read(HEADS + name)
    if tip is None:

        def create() -> str:
            if head is None:  # no data commit yet: the first one starts the branch
                refs.set_head(name, None, f"commit: follow git branch {name}")
                return f"data branch {name} follows git branch {name} (first commit)"
            refs.create_branch(name, head, f"branch: created from {came_from} for git")
            refs.set_head(name, head, f"commit: follow git branch {name}")
            return f"data branch {name} created from {came_from} at {head.hex()[:12]}"

        return create
    git_pins_head = False
    if head is not None and tip != head:  # what git committed on the branch, not the work tree
        try:
            committed = pins.read_at_git_rev(repo, "HEAD")
        except DvaultError:  # no git commit yet, or a lock git holds that does not parse
            committed = None
        git_pins_head = committed is not None and committed.commit == head.hex()
    if head is not None and (
        tip == head or (git_pins_head and merge_base(repo.store, tip, head) == tip)
    ):
        at, old = head, tip

        def attach() -> str:
            if old != at:
                refs.update(HEADS + name, at, f"commit: fast-forward to {came_from}")
            refs.set_head(name, at, f"commit: follow git branch {name}")
            forwarded = f", fast-forwarded from {old.hex()[:12]}" if old != at else ""
            return (
                f"data HEAD moved from {came_from} to data branch {name} at "
                f"{at.hex()[:12]}{forwarded}"
            )

        return attach
    shown = head.hex()[:12] if head is not None else "no commit"
    raise CheckFailed(
        f"git is on branch {name}, but data branch {name} is at {tip.hex()[:12]} and "
        f"the data you are committing on is {came_from} at {shown}; nothing committed: to "
        "keep this data apart, start a branch for it with `git switch -c NEW-BRANCH` "
        "and commit again"
    )


def _nested(outer: str, inner: str) -> bool:
    return inner.startswith(outer + "/")


def resolve_inputs(repo: Repository, inputs: list[str]) -> list[dict[str, Any]]:
    """The records of ``--input`` specs (``REV`` or ``PATH@REV``): the revision as given,
    its commit, and for a path the path and its id in that commit (docs/lineage.md)."""
    recorded = []
    for spec in inputs:
        path, at, rev = spec.rpartition("@")
        if not at:
            path, rev = "", spec
        commit_id = repo.resolve(rev)
        item: dict[str, Any] = {"rev": rev, "commit": commit_id.hex()}
        if path:
            rel = repo.relpath(path)
            entry = lookup(repo.store, repo.read_commit(commit_id).tree, rel)
            if entry is None:
                raise UsageError(f"input {spec!r}: {path} does not exist in {rev}")
            item.update(path=os.fsdecode(rel), id=entry.id.hex())
        recorded.append(item)
    return recorded


def lineage_meta(
    repo: Repository,
    writer: ObjectWriter,
    inputs: list[str],
    sources: list[str | Path],
    records: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """What every commit records about where it came from (docs/lineage.md); ``records``
    are inputs already resolved (and checked against the work tree) by the caller."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    lineage: dict[str, Any] = {  # a secret on the command line must not be published
        "command": redact_argv(["dvault", *sys.argv[1:]]) if sys.argv else [],
        "host": socket.gethostname(),
        "user": user,
    }
    git = gitlink.state(repo.root, repo.roots())
    if git is not None:
        lineage["git"] = git.to_meta()
    recorded_inputs = resolve_inputs(repo, inputs) if records is None else records
    if recorded_inputs:
        lineage["inputs"] = recorded_inputs
    recorded_sources = []
    for source in sources:
        rel = repo.relpath(source)
        full = repo.root / os.fsdecode(rel)
        try:
            with open(full, "rb") as f:
                oid, size = writer.put_file(f, full.stat().st_size)
        except OSError as exc:
            raise UsageError(f"source {source}: {exc.strerror}") from None
        recorded_sources.append({"path": os.fsdecode(rel), "id": oid.hex(), "size": size})
    if recorded_sources:
        lineage["sources"] = recorded_sources
    return lineage


def write_lock(repo: Repository, commit_id: bytes) -> None:
    """Keep dvault.lock (the git-side pin) in step with the data (inside git only)."""
    pins.write(repo, commit_id)


def branch(repo: Repository, name: str, rev: str | None = None) -> ObjectId:
    """Create branch ``name`` at ``rev`` (default HEAD); returns the commit id."""
    with repo.locked():
        target = repo.resolve(rev or "HEAD")
        repo.refs.create_branch(name, target, f"branch: created from {rev or 'HEAD'}")
    return target


def delete_branch(repo: Repository, name: str) -> ObjectId:
    """Delete a branch (not the current one); returns the commit it pointed at."""
    with repo.locked():
        current, _ = repo.refs.head()
        if name == current:
            raise UsageError(f"cannot delete the current branch {name!r}")
        oid: ObjectId = repo.refs.delete_branch(name)
    return oid


def tag(
    repo: Repository,
    name: str,
    rev: str | None = None,
    message: str = "",
    sign: bool = False,
    key: str | None = None,
) -> ObjectId:
    """Create an annotated, immutable tag (signed with ``sign``); re-tagging an
    existing name fails."""
    check_ref_name(name)
    signer = signer_for(sign, key)
    with repo.locked():
        if repo.refs.read(TAGS + name) is not None:
            raise RefExists(f"tag {name!r} already exists; tags never move")
        target = repo.resolve(rev or "HEAD")
        new = Tag(target, "commit", name, author(repo.config, repo.root), time.time_ns(), message)
        with repo.store.writer() as writer:
            oid = writer.put(new if signer is None else signer(new))
        repo.refs.create_tag(name, oid)
    return oid


def signer_for(sign: bool, key: str | None) -> Signer | None:
    """Load the signing key before any work (a missing key fails fast), or None."""
    if not sign:
        if key is not None:
            raise UsageError("--key needs --sign")
        return None
    _, private = signing.load_key(key)
    return lambda obj: signing.sign(obj, private)


def signature(repo: Repository, oid: bytes, signers: Signers | None = None) -> SignatureCheck:
    """The signature status (good, bad, unknown, unsigned) of a commit or tag, against
    the trusted signers (``signing.trusted_signers``: never the work tree)."""
    if signers is None:
        signers = signing.trusted_signers(repo.root)
    return signing.check_object(repo, oid, signers)


def read_tag(repo: Repository, oid: bytes) -> Tag:
    """The annotated tag object ``oid``."""
    found = repo.store.get(oid, ObjectType.TAG)
    assert isinstance(found, Tag)
    return found
