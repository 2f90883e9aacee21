"""Git hooks: keep the data in step with the code through git's own commands.

* post-checkout, post-merge: materialise the data ``dvault.lock`` pins (fetching missing
  objects from the default remote); a pin whose commit tracks new roots is refused with
  the command that accepts them, never accepted silently;
* pre-commit: refuse a git commit whose tracked data differs from the pin, with the command
  that fixes it (or, with ``[git] commit_data = true`` in ``.dvault/config.local`` or the
  user config, commit the data and stage the pin; the committed config cannot turn on
  automation: dvault/config.py);
* pre-push: push the data pinned by every git commit being pushed, and refuse the git push
  if that fails, so no pushed git commit points at data missing from the remote;
* the merge driver for ``dvault.lock`` (``[merge "dvault"]`` in ``.git/config`` and
  ``dvault.lock merge=dvault`` in ``.gitattributes``): ``git merge`` of two pins runs the
  dvault three-way merge of the pinned data commits (:mod:`dvault.ops.merge_driver`).

Installed hooks are small shell scripts that first run any hook that was already there
(kept as ``<hook>.dvault-chained``) and then ``python -m dvault hook NAME``, the
interpreter's path quoted for sh (``shlex.quote``: a path with a space, ``$`` or a quote
runs that interpreter and nothing else). Hooks run the git binary (git is what invokes
them), so they may use it for index operations.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from pathlib import Path

from dvault import config as cfg
from dvault.errors import CheckFailed, DvaultError, UsageError
from dvault.gitlink import checked_out, find_git_root, hooks_dir
from dvault.hashing import ObjectId
from dvault.ops import merge_driver as driver
from dvault.ops.commits import commit, write_lock
from dvault.ops.switch import WouldOverwrite, checkout, checkout_initial
from dvault.ops.tracking import status
from dvault.pins import LOCK_FILE, Pin, read
from dvault.reachability import walk
from dvault.refs import HEADS
from dvault.repository import Repository
from dvault.workspace.safety import NewRoots

HOOKS = ("post-checkout", "post-merge", "pre-commit", "pre-push")
MARK = "# dvault-hook"
CHAINED = ".dvault-chained"


def _script(name: str) -> str:
    python = shlex.quote(sys.executable)
    reads_stdin = name == "pre-push"
    lines = [
        "#!/bin/sh",
        f"{MARK} {name}: installed by 'dvault hooks install';",
        "# 'dvault hooks uninstall' removes it and restores the hook it chains to.",
    ]
    if reads_stdin:
        lines += [
            'input="$(cat)"',
            f'if [ -x "$0{CHAINED}" ]; then',
            f'    printf "%s\\n" "$input" | "$0{CHAINED}" "$@" || exit $?',
            "fi",
            f'printf "%s\\n" "$input" | exec {python} -m dvault hook {name} "$@"',
        ]
    else:
        lines += [
            f'if [ -x "$0{CHAINED}" ]; then',
            f'    "$0{CHAINED}" "$@" || exit $?',
            "fi",
            f'exec {python} -m dvault hook {name} "$@"',
        ]
    return "\n".join(lines) + "\n"


def _ours(path: Path) -> bool:
    try:
        return MARK in path.read_text(errors="replace")
    except (FileNotFoundError, IsADirectoryError):
        return False


def install(repo: Repository) -> list[str]:
    """Install (or refresh) the hooks, chaining to existing ones, and register the merge
    driver; returns what it did."""
    directory = hooks_dir(repo.root)
    driver.check_installable(repo)
    directory.mkdir(parents=True, exist_ok=True)
    done = []
    for name in HOOKS:
        path = directory / name
        chained = directory / (name + CHAINED)
        if path.exists() and not _ours(path):
            if chained.exists():
                raise UsageError(f"{chained} exists; move it away before installing")
            os.rename(path, chained)
            done.append(f"{name}: installed (chaining to your existing hook)")
        else:
            done.append(f"{name}: installed")
        path.write_text(_script(name))
        path.chmod(0o755)
    done.append(driver.install(repo))
    return done


def uninstall(repo: Repository) -> list[str]:
    directory = hooks_dir(repo.root)
    done = []
    for name in HOOKS:
        path = directory / name
        chained = directory / (name + CHAINED)
        if _ours(path):
            path.unlink()
            if chained.exists():
                os.rename(chained, path)
                done.append(f"{name}: removed; your previous hook is back")
            else:
                done.append(f"{name}: removed")
    done += driver.uninstall(repo)
    return done


# -- what the hooks do --------------------------------------------------------------------


def materialise_pin(
    repo: Repository,
    pin: Pin | None = None,
    force: bool = False,
    accept_roots: bool = False,
    by_hook: bool = True,
) -> str:
    """Make the workspace hold the pinned data, fetching missing objects; returns a
    one-line summary. The post-checkout and post-merge hooks run it, and so does
    ``dvault checkout --pin`` (``by_hook`` False: with the user's ``force`` and
    ``accept_roots``, which a hook never passes)."""
    pin = pin or read(repo)
    if pin is None:
        return "no dvault.lock: nothing to materialise"
    target = bytes.fromhex(pin.commit)
    _, head = repo.refs.head()
    if head == target:
        if _attach(repo, ObjectId(target)):
            return f"data already at {pin.commit[:12]}; on the git branch's data branch"
        return f"data already at {pin.commit[:12]}"
    _ensure_present(repo, target)
    try:
        if head is None:
            report = checkout_initial(
                repo, ObjectId(target), None, accept_roots=accept_roots, force=force
            )
        else:
            report = checkout(repo, pin.commit, force=force, accept_roots=accept_roots)
        _attach(repo, ObjectId(target))
    except WouldOverwrite as exc:  # git has moved already: say the data has not
        here = head.hex()[:12] if head is not None else "nothing"
        why = (
            f"git moved to a commit whose dvault.lock pins {pin.commit[:12]} but the data "
            f"is still at {here}: "
        )
        raise WouldOverwrite(exc.paths, "dvault checkout --pin", why if by_hook else "") from None
    except NewRoots as exc:  # a hook never accepts new roots for the user: it says how
        if not by_hook:
            raise
        raise NewRoots(
            f"{exc} (a hook does not accept them for you; to accept, run: dvault checkout "
            f"--accept-roots {pin.commit[:12]})"
        ) from None
    return (
        f"data checked out at {pin.commit[:12]}: {report.written} written, {report.removed} removed"
    )


def _attach(repo: Repository, target: ObjectId) -> bool:
    """Attach HEAD (detached at ``target``, the pin) to the data branch named like the git
    branch checked out, when that branch is at ``target``: the pinned data is that
    branch's, so data and git agree on the branch. Checked under the lock, so a branch
    that moved meanwhile is left alone (HEAD stays detached at the pin). Returns whether
    HEAD was attached."""
    try:
        git = checked_out(repo.root)
    except DvaultError:  # an unreadable git HEAD: stay detached
        return False
    if git is None or git.branch is None:
        return False
    with repo.locked():
        try:
            tip = repo.refs.read(HEADS + git.branch)
        except DvaultError:  # a git branch name dvault cannot hold
            return False
        current, head = repo.refs.head()
        if tip != target or head != target or current == git.branch:
            return False
        repo.refs.set_head(git.branch, target, "checkout: the git branch's data")
    return True


def checkout_pin(repo: Repository, force: bool = False, accept_roots: bool = False) -> str:
    """``dvault checkout --pin``: the workspace (and HEAD) as the commit ``dvault.lock``
    pins, as the post-checkout hook makes it; refuses, naming them, to overwrite
    uncommitted changes unless ``force``."""
    pin = read(repo)
    if pin is None:
        raise UsageError(f"no {LOCK_FILE} in {repo.root}: nothing is pinned")
    return materialise_pin(repo, pin, force, accept_roots, by_hook=False)


def _ensure_present(repo: Repository, commit_id: bytes) -> None:
    """Fetch the commit and what it needs from the default remote unless all is here."""
    if not repo.store.has(commit_id) or not _complete(repo, commit_id):
        _fetch_pin(repo, commit_id)


def _complete(repo: Repository, commit_id: bytes) -> bool:
    store = repo.store
    try:
        found = walk(
            store.get_raw, store.type_of, [commit_id], known=lambda _o: False, history=False
        )
    except DvaultError:
        return False
    return not found.missing


def _fetch_pin(repo: Repository, commit_id: bytes) -> None:
    # deferred: start-up; git runs a hook on every checkout and commit, and most have
    # nothing to fetch or push, so remote/ loads only when one does
    from dvault.remote.fetch import fetch_commit
    from dvault.remote.session import pick_remote

    fetch_commit(repo, pick_remote(repo, None), commit_id)


def pre_commit(repo: Repository) -> str:
    """Refuse (CheckFailed) when the data or the pin would not match the git commit,
    naming the command that fixes the situation found (each is run by
    tests/git/test_hints.py)."""
    now = status(repo)
    pin = read(repo) if now.merging is None else None  # mid-merge it holds markers
    branch, head = repo.refs.head()
    problem = fix = ""
    at_pin = head is not None and pin is not None and pin.commit == head.hex()
    if now.merging is not None:
        problem = "a dvault merge (of the data dvault.lock pins) is in progress"
        if now.unmerged:
            first = shlex.quote(os.fsdecode(now.unmerged[0]))
            problem += f" with {len(now.unmerged)} unmerged path(s)"
            fix = (
                f"take one side of each (`dvault checkout --theirs -- {first}`, or --ours; "
                "`dvault status` lists them), then `dvault merge --continue && git add "
                "dvault.lock` and commit again"
            )
        else:
            fix = "run `dvault merge --continue && git add dvault.lock` and commit again"
    elif not now.clean and (at_pin or pin is None):
        counts = (
            f"{len(now.staged)} staged, {len(now.modified)} modified, "
            f"{len(now.deleted)} deleted, {len(now.untracked)} new"
        )
        problem = f"tracked data has uncommitted changes ({counts})"
        fix = (
            "run `dvault commit -a -m 'MESSAGE' && git add dvault.lock` and commit again "
            "(or set [git] commit_data = true in .dvault/config.local)"
        )
    elif pin is not None and not at_pin:
        here = head.hex()[:12] if head is not None else "no commit"
        problem = f"dvault.lock pins {pin.commit[:12]} but the data checked out is {here}"
        if now.clean:
            fix = "run `dvault checkout --pin` and commit again"
        else:
            fix = (
                "your uncommitted data changes are on the wrong base: put them aside and "
                "check out the pinned data with `dvault stash push && dvault checkout --pin` "
                "and commit again (the changes stay in `dvault stash "
                "list`)"
            )
    elif head is not None and pin is None:
        problem = "there is no dvault.lock for the data commit"
        fix = f"run `dvault checkout {branch or head.hex()[:12]} && git add dvault.lock`"
    elif pin is not None and _unstaged_in_git(repo):
        problem = "dvault.lock has changes not staged in git"
        fix = "run `git add dvault.lock` and commit again"
    if not problem:
        return "data matches dvault.lock"
    if cfg.get(repo.config, "git.commit_data", False):
        moved: list[str] = []
        if not now.clean:
            commit(repo, "data for git commit", all=True, notify=moved.append)
        _, head = repo.refs.head()
        if head is not None:
            write_lock(repo, head)
        _git(repo, "add", LOCK_FILE)
        return "; ".join(
            [*moved, "committed the data and staged dvault.lock (git.commit_data = true)"]
        )
    raise CheckFailed(f"{problem}; {fix}")


def _git(repo: Repository, *args: str) -> subprocess.CompletedProcess[str]:
    root = find_git_root(repo.root) or repo.root
    return subprocess.run(["git", *args], cwd=root, capture_output=True, text=True)


def _unstaged_in_git(repo: Repository) -> bool:
    tracked = _git(repo, "ls-files", "--error-unmatch", LOCK_FILE).returncode == 0
    if not tracked:
        return (repo.root / LOCK_FILE).exists()
    return _git(repo, "diff", "--quiet", "--", LOCK_FILE).returncode != 0


def pre_push(repo: Repository, stdin_text: str) -> str:
    """Push the data pinned by every git commit in the push; raise to refuse the push."""
    from dvault.remote.push import push_refs  # deferred: start-up (see _fetch_pin)
    from dvault.remote.session import pick_remote  # deferred: start-up (see _fetch_pin)

    zero = "0" * 40
    pins: dict[str, str] = {}
    for line in stdin_text.splitlines():
        parts = line.split()
        if len(parts) != 4 or parts[1] == zero:
            continue
        local_sha, remote_sha = parts[1], parts[3]
        span = [local_sha] + ([f"^{remote_sha}"] if remote_sha != zero else ["--not", "--remotes"])
        listed = _git(repo, "rev-list", *span)
        commits = listed.stdout.split() if listed.returncode == 0 else [local_sha]
        for sha in commits or [local_sha]:
            shown = _git(repo, "show", f"{sha}:{_lock_rel(repo)}")
            if shown.returncode == 0:
                pin = Pin.parse(shown.stdout, f"dvault.lock at {sha[:12]}")
                pins.setdefault(pin.commit, sha)
    if not pins:
        return "no pinned data in the pushed commits"
    spec = pick_remote(repo, None)
    missing = [c for c in pins if not repo.store.has(bytes.fromhex(c))]
    if missing:
        raise CheckFailed(
            f"pre-push: git commit {pins[missing[0]][:12]} pins data {missing[0][:12]} that "
            "is not in the local store; dvault fetch it first"
        )
    wanted = {f"refs/pins/{c}": ObjectId(bytes.fromhex(c)) for c in pins}
    report = push_refs(repo, spec, wanted)
    return f"pushed the data of {len(pins)} pin(s) to {spec.name} ({report.packs_sent} pack(s))"


def _lock_rel(repo: Repository) -> str:
    git_root = find_git_root(repo.root) or repo.root
    prefix = repo.root.relative_to(git_root).as_posix()
    return f"{prefix}/{LOCK_FILE}" if prefix != "." else LOCK_FILE


def run(repo: Repository, name: str, args: list[str]) -> str:
    """Dispatch one git hook invocation."""
    if name == "post-checkout":
        if len(args) >= 3 and args[2] != "1":
            return "file checkout: data unchanged"
        return materialise_pin(repo)
    if name == "post-merge":
        return materialise_pin(repo)
    if name == "pre-commit":
        return pre_commit(repo)
    if name == "pre-push":
        return pre_push(repo, sys.stdin.read())
    if name == "merge-driver":
        return driver.merge_driver(repo, args, lambda oid: _ensure_present(repo, oid))
    raise UsageError(f"unknown hook {name!r}")


__all__ = ["HOOKS", "checkout_pin", "install", "materialise_pin", "run", "uninstall"]
