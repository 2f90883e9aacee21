"""Synchronising with remotes: push, fetch, pull and clone.

``push`` and ``fetch`` pick the remote and hand over to remote/push.py and
remote/fetch.py, which move the objects and the ref log. ``pull`` and ``clone`` fetch,
then check out through :mod:`dvault.ops.switch`; a ``pull`` of a diverged branch merges
(:mod:`dvault.ops.merge`) unless ``--ff-only``.

A clone is made whole or not at all: on any failure the half-made directory is removed.
What the user knows of a remote beforehand (``clone --encrypted``, ``--key-id``,
``--expect``: :class:`CloneTrust`) is checked before anything is fetched.
"""

from __future__ import annotations

import dataclasses
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from dvault import config as cfg
from dvault import pins
from dvault.errors import CheckFailed, DvaultError, UsageError
from dvault.hashing import ObjectId
from dvault.memory import trim_heap
from dvault.refs import HEADS, TAGS
from dvault.remote import fetch as remote_fetch
from dvault.remote import push as remote_push
from dvault.remote.backend import Backend, RemoteError, RemoteSpec, RemoteTampered
from dvault.remote.encrypted import EncryptedBackend
from dvault.remote.fetch import CheckPack, FetchReport, bring_in, fetch_view
from dvault.remote.push import Announce, PushReport, is_ancestor
from dvault.remote.reflog import LogView
from dvault.remote.session import Remote, pick_remote
from dvault.repository import ProgressFactory, Repository
from dvault.revisions import peel

if TYPE_CHECKING:
    from dvault.ops.merge import MergeReport
    from dvault.workspace.checkout import CheckoutReport
    from dvault.workspace.prefill import Prefill


def push(
    repo: Repository,
    remote: str | None = None,
    refs: list[str] | None = None,
    force: bool = False,
    *,
    tags: bool = True,
    all_refs: bool = False,
    dry_run: bool = False,
    announce: Announce | None = None,
) -> PushReport:
    """Send ``remote`` (default: the default remote, ``dvault remote default``) the packs
    it lacks and append the updates of ``refs`` (default: the current branch) to its ref
    log, with the tags that point into what is pushed unless ``tags`` is false;
    ``all_refs``: every branch and tag; ``dry_run``: report what would be sent, change
    nothing; ``announce`` hears the ref updates before anything is sent or appended."""
    spec = pick_remote(repo, remote)
    return remote_push.push(
        repo,
        spec,
        refs or None,
        force=force,
        tags=tags,
        all_refs=all_refs,
        dry_run=dry_run,
        announce=announce,
    )


def subject(repo: Repository, value: str) -> str | None:
    """The first line of the message of the commit a ref value (hex) names, through
    annotated tags; None when this clone does not hold it. Untrusted text: escape it."""
    try:
        oid = peel(repo, ObjectId(bytes.fromhex(value)), value)
        message = repo.read_commit(oid).message
    except (DvaultError, ValueError):
        return None
    return message.splitlines()[0] if message.strip() else ""


def fetch(
    repo: Repository,
    remote: str | None = None,
    refs: list[str] | None = None,
    all_history: bool = False,
) -> FetchReport:
    """Bring in a remote's refs (default: all) and the objects they need, verified;
    ``all_history`` also the history behind commits fetched without it."""
    spec = pick_remote(repo, remote)
    return remote_fetch.fetch(repo, spec, refs or None, all_history=all_history)


def pull(
    repo: Repository,
    spec: RemoteSpec,
    name: str | None = None,
    accept_roots: bool = False,
    ff_only: bool | None = None,
) -> tuple[FetchReport, CheckoutReport | None, MergeReport | None]:
    """Fetch a branch (default: the current one) and bring the workspace up to it: a
    fast-forward, or, when the two have diverged, a merge of the fetched tracking ref
    (``refs/remotes/REMOTE/BRANCH``) into the current branch (:func:`dvault.ops.merge.merge`;
    conflicts are refused with nothing changed). ``ff_only`` (default: the config's
    ``[pull] ff = "only"``) refuses a diverged branch instead, as git's ``pull.ff``. New
    tracked roots need ``accept_roots`` (:func:`dvault.ops.switch.checkout`). Returns the
    fetch, the checkout (None when there was nothing to check out) and the merge (None
    unless one was made).

    In a fresh git clone (no local data commits) that carries a ``dvault.lock``, pull
    materialises the pinned data instead: that is the data the checked-out code uses.
    """
    # deferred: start-up; push and fetch (a git pre-push hook) never check out or merge,
    # and these modules cost them ~25 ms to import
    from dvault.ops.merge import merge
    from dvault.ops.switch import checkout_initial, fast_forward

    if ff_only is None:
        ff_only = _pull_ff_only(repo)
    branch, head = repo.refs.head()
    pin = pins.read(repo) if name is None else None
    if head is None and pin is not None:
        remote = Remote(repo, spec)
        remote.log.load()  # refuses a rewritten or truncated log; the pin names the data,
        remote.refresh_catalog()  # so no ref is followed and the position is not advanced
        report = FetchReport()
        pinned = ObjectId(bytes.fromhex(pin.commit))
        bring_in(repo, remote, [pinned], None, True, report)
        return report, checkout_initial(repo, pinned, None, accept_roots=accept_roots), None
    target = name or branch
    if target is None:
        raise UsageError("HEAD is detached; name the branch to pull")
    report = remote_fetch.fetch(repo, spec, [target])
    ref = next(iter(report.refs))
    if not ref.startswith(HEADS):
        raise UsageError(f"{target!r} is a tag; use dvault fetch and dvault checkout")
    new = ObjectId(bytes.fromhex(report.refs[ref]))
    local_name = ref[len(HEADS) :]
    local = repo.refs.read(ref)
    if local is not None and local != new and not is_ancestor(repo, local, new):
        if is_ancestor(repo, new, local):
            return report, None, None  # we are ahead: nothing to pull
        tracking = f"{spec.name}/{local_name}"
        if branch != local_name:
            raise CheckFailed(
                f"branch {local_name!r} has diverged from {tracking} and is not checked out: "
                f"check it out and pull, or dvault merge {tracking} there"
            )
        if ff_only:
            raise CheckFailed(
                f"branch {local_name!r} has diverged from {tracking}; not merging (--ff-only "
                f'or [pull] ff = "only"): dvault merge {tracking}, or pull without --ff-only'
            )
        merged = merge(
            repo,
            f"refs/remotes/{tracking}",
            message=f"Merge {tracking} into {local_name}",
            accept_roots=accept_roots,
        )
        return report, merged.checkout, merged
    if local == new and branch == local_name:
        return report, None, None
    if branch != local_name:
        repo.refs.update(ref, new, f"pull: from {spec.name}")
        return report, None, None
    message = f"pull: fast-forward from {spec.name}"
    return report, fast_forward(repo, new, message, accept_roots=accept_roots), None


def _pull_ff_only(repo: Repository) -> bool:
    """``[pull] ff = "only"``: a tightening, so any config may set it; other values are
    refused rather than guessed at."""
    value = cfg.get(repo.config, "pull.ff")
    if value is None:
        return False
    if value == "only":
        return True
    raise UsageError(f'[pull] ff = {value!r} is not understood; the one value is "only"')


def clone(
    url: str,
    dest: Path,
    rev: str | None = None,
    paths: list[str] | None = None,
    endpoint: str | None = None,
    region: str | None = None,
    profile: str | None = None,
    backend: Backend | None = None,
    trust: CloneTrust | None = None,
    progress: ProgressFactory | None = None,
) -> CheckoutReport:
    """Create ``dest``, add the remote as ``origin``, fetch and check out.

    ``trust`` is what the user knows of the remote beforehand (clone --encrypted, --key-id,
    --expect): a remote that does not match it is refused before anything is fetched. On
    any failure the half-made clone is removed: nothing half-written is left.
    """
    from dvault.ops.switch import checkout_initial  # deferred: start-up, as in pull
    from dvault.workspace.prefill import Prefill  # deferred: start-up, as in pull

    if dest.exists() and any(dest.iterdir()):
        raise UsageError(f"destination {dest} exists and is not empty")
    created = not dest.exists()
    if "://" not in url and not url.startswith("/"):
        url = str(Path(url).resolve())
    trust = trust or CloneTrust()
    encrypted = trust.encrypted or trust.key_id is not None
    spec = RemoteSpec("origin", url, endpoint, region, None, profile, encrypted, trust.key_id)
    prefill: list[Prefill] = []  # planned by the fetch once the trees are here
    try:
        repo = Repository.init(dest, at_git_root=False)
        if progress is not None:  # the fetch and the checkout report to it
            repo.progress = progress
        with repo:
            config = cfg.load(repo.dir / "config")
            config.setdefault("remote", {})["origin"] = spec.to_config()
            cfg.save(repo.dir / "config", config)
            repo.reload_config()
            remote = Remote(repo, spec, backend)
            if isinstance(remote.backend, EncryptedBackend):  # pin it in the config
                spec = dataclasses.replace(spec, encrypt=True, key_id=remote.backend.keys.key_id)
                config["remote"]["origin"] = spec.to_config()
                cfg.save(repo.dir / "config", config)
                repo.reload_config()
            view = remote.log.load()
            trust.check(view, remote.describe())
            if not view.refs:
                raise RemoteError(f"remote {remote.describe()} has no refs to clone")
            ref, target_hex = _clone_target(view.refs, rev)
            scopes = [p.strip("/") for p in paths] if paths else None
            # a plain clone takes every branch and tag; --rev or paths take just that one
            names = [ref] if rev or scopes else None

            def plan_files() -> CheckPack | None:
                """Once the trees are here: the files to write from the fetched bytes."""
                if not created:  # files may be in the way: the checkout compares first
                    return None
                if not prefill:  # else planned already (the fetch retries after a bad pack)
                    tip = peel(repo, ObjectId(bytes.fromhex(target_hex)), ref)
                    sparse = [s.encode() for s in scopes] if scopes else None
                    prefill.append(Prefill(repo, repo.read_commit(tip).tree, sparse))
                return prefill[-1].check if prefill[-1].worth else None

            history = scopes is None
            fetch_view(repo, remote, view, names, scopes, history, before_data=plan_files)
            for planned in prefill:
                planned.stop()  # the packs are all checked: the workers are done
            trim_heap()  # the fetch's object maps are gone: not carried into the checkout
            if scopes:
                repo.state.set_sparse(scopes)
            target = peel(repo, ObjectId(bytes.fromhex(target_hex)), ref)
            branch = ref[len(HEADS) :] if ref.startswith(HEADS) else None
            filled = prefill[-1] if prefill else None
            report = checkout_initial(repo, target, branch, empty_workspace=created, prefill=filled)
            if filled is not None:
                filled.close()  # scratch files the checkout did not use (none, normally)
            return report
    except BaseException:  # whatever it was (a bug's RecursionError too): nothing half-made
        for planned in prefill:
            planned.close()
        if created:
            shutil.rmtree(dest, ignore_errors=True)
        else:
            for child in dest.iterdir():
                if child.is_dir() and not child.is_symlink():
                    shutil.rmtree(child)
                else:
                    child.unlink()
        raise


@dataclass(frozen=True)
class CloneTrust:
    """What a user knows of a remote before the first clone, so that trust on first use is
    not all there is: it must be encrypted (under ``key_id``), and its ref log must hold
    the entry whose blake3 is ``expect`` on its chain (a head a teammate published)."""

    encrypted: bool = False
    key_id: str | None = None  # implies encrypted
    expect: str | None = None

    def __post_init__(self) -> None:
        if self.key_id is not None and not _is_hex(self.key_id, 32):
            raise UsageError("--key-id takes the 32 hex digits a remote's key id has")
        if self.expect is not None and not _is_hex(self.expect, 64):
            raise UsageError("--expect takes the 64 hex digits of a ref-log entry's hash")

    def check(self, view: LogView, where: str) -> None:
        if self.expect is not None and self.expect not in {d for _, d in view.entries}:
            raise RemoteTampered(
                f"remote {where}: no entry of its ref log ({view.state.seq + 1} entries) has "
                f"the expected hash {self.expect[:16]}...: this is not the history you were "
                "told to expect; nothing was cloned"
            )


def _is_hex(text: str, size: int) -> bool:
    return len(text) == size and all(c in "0123456789abcdef" for c in text)


def _clone_target(refs: dict[str, str], rev: str | None) -> tuple[str, str]:
    """The ref to clone: ``rev`` if it names a remote branch or tag, else main, else the
    first branch, else the first tag."""
    if rev:
        for full in (rev, HEADS + rev, TAGS + rev):
            if full in refs:
                return full, refs[full]
        raise UsageError(f"the remote has no branch or tag named {rev!r}")
    for preferred in (HEADS + "main", HEADS + "master"):
        if preferred in refs:
            return preferred, refs[preferred]
    branches = sorted(r for r in refs if r.startswith(HEADS))
    chosen = branches[0] if branches else sorted(refs)[0]
    return chosen, refs[chosen]
