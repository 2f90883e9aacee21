"""The git merge driver for ``dvault.lock``.

``dvault hooks install`` registers it: ``[merge "dvault"]`` in the git repository's
config (``driver = PYTHON -m dvault hook merge-driver %O %A %B %P``, the interpreter quoted
for sh with ``shlex.quote`` as the hook scripts quote it) and the line
``dvault.lock merge=dvault`` in the project's ``.gitattributes``, after a marker comment so
that ``dvault hooks uninstall`` removes exactly what install added (and only in the clone
whose install added it: ``.gitattributes`` is committed, another clone finds the line
there and leaves it alone).

When ``git merge`` meets two different pins, git runs the driver with the three versions
of the file: the base (%O, empty when there is none), ours (%A, where the result goes) and
theirs (%B). The pins are committed files, as hostile as a commit: each is parsed and
checked (:meth:`dvault.pins.Pin.parse`), and the pinned commits are fetched, verified, from
the default remote when missing. The data checked out must be the data ours pins (the
pre-commit hook keeps it so); the driver then merges theirs' data commit into the current
data branch with :func:`dvault.ops.merge.merge` (a fast-forward or a merge commit, checked
out; the merge base is dvault's own, from the commit graph), writes the merged pin into %A
and exits 0. On data conflicts the data merge stops as ``dvault merge`` stops (the
conflict state, finished by ``dvault merge --continue``, which writes the merged pin); on
anything it refuses (a hostile or unknown pin) nothing in dvault changes. Either way %A is
left holding both pins between conflict markers and the driver exits non-zero: git stops
with ``dvault.lock`` conflicted.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from dvault.errors import CheckFailed, DvaultError, UsageError
from dvault.gitlink import find_git_root
from dvault.ops.conflicts import MergeStopped
from dvault.ops.merge import MergeConflicts, merge
from dvault.pins import LOCK_FILE, Pin, pin_for
from dvault.repository import Repository

NAME = "dvault"
ATTRIBUTES = ".gitattributes"
ATTRIBUTE_LINE = f"{LOCK_FILE} merge={NAME}"
ATTRIBUTE_MARK = "# dvault-hook: merge driver for dvault.lock ('dvault hooks uninstall' removes it)"
DRIVER_MARK = "-m dvault hook merge-driver"
ADDED_KEY = f"merge.{NAME}.attributes"  # "added" when this clone's install wrote the line


def driver_command() -> str:
    """What git runs: this interpreter (quoted for sh) and the four placeholders, which
    git itself replaces with quoted paths."""
    return f"{shlex.quote(sys.executable)} {DRIVER_MARK} %O %A %B %P"


def _git(repo: Repository, *args: str) -> subprocess.CompletedProcess[str]:
    root = find_git_root(repo.root) or repo.root
    try:
        return subprocess.run(["git", *args], cwd=root, capture_output=True, text=True)
    except FileNotFoundError:
        raise UsageError("the git program is not installed; the merge driver needs it") from None


def _configured(repo: Repository) -> str | None:
    shown = _git(repo, "config", "--local", "--get", f"merge.{NAME}.driver")
    return shown.stdout.strip() if shown.returncode == 0 else None


def check_installable(repo: Repository) -> None:
    """Refuse (before any hook is written) a ``[merge "dvault"]`` that is not ours."""
    current = _configured(repo)
    if current is not None and DRIVER_MARK not in current:
        raise UsageError(
            f'.git/config already has a [merge "{NAME}"] driver that dvault did not install '
            f"({current!r}); remove it (git config --remove-section merge.{NAME}) first"
        )


def install(repo: Repository) -> str:
    """Register the driver in the git config and ``.gitattributes``. Whether this clone
    added the attribute line is noted in the config (``merge.dvault.attributes``), so that
    uninstall in another clone leaves a committed line it did not add alone."""
    path = repo.root / ATTRIBUTES
    try:
        text = path.read_text()
    except FileNotFoundError:
        text = ""
    present = ATTRIBUTE_LINE in text.splitlines()
    added = present and _git(repo, "config", "--local", "--get", ADDED_KEY).stdout.strip()
    settings = [
        ("name", "dvault: three-way merge of the pinned data"),
        ("driver", driver_command()),
        ("attributes", added or ("existing" if present else "added")),
    ]
    for key, value in settings:
        done = _git(repo, "config", "--local", f"merge.{NAME}.{key}", value)
        if done.returncode != 0:
            raise CheckFailed(f"git config merge.{NAME}.{key} failed: {done.stderr.strip()}")
    if present:
        return f"merge-driver: registered in .git/config ({ATTRIBUTES} already names it)"
    if text and not text.endswith("\n"):
        text += "\n"
    path.write_text(text + ATTRIBUTE_MARK + "\n" + ATTRIBUTE_LINE + "\n")
    return f"merge-driver: registered in .git/config and {ATTRIBUTES}"


def uninstall(repo: Repository) -> list[str]:
    """Undo :func:`install`: its config section, and the two ``.gitattributes`` lines if
    this clone's install added them; nothing else."""
    done: list[str] = []
    current = _configured(repo)
    if current is None or DRIVER_MARK not in current:
        return done
    ours = _git(repo, "config", "--local", "--get", ADDED_KEY).stdout.strip() == "added"
    _git(repo, "config", "--local", "--remove-section", f"merge.{NAME}")
    done.append("merge-driver: removed from .git/config")
    path = repo.root / ATTRIBUTES
    try:
        lines = path.read_text().splitlines(keepends=True) if ours else []
    except FileNotFoundError:
        return done
    kept: list[str] = []
    removed = False
    skip_next = False
    for line in lines:
        if skip_next:
            skip_next = False
            if line.rstrip("\n") == ATTRIBUTE_LINE:
                continue
        if line.rstrip("\n") == ATTRIBUTE_MARK:
            removed = skip_next = True
            continue
        kept.append(line)
    if removed:
        if kept:
            path.write_text("".join(kept))
        else:
            path.unlink()
        done.append(f"merge-driver: removed from {ATTRIBUTES}")
    return done


def _read_pin(path: str, side: str) -> tuple[bytes, Pin | None]:
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise UsageError(f"cannot read {side} {LOCK_FILE} ({path}): {exc.strerror}") from None
    if not data.strip():
        return data, None
    return data, Pin.parse(data, f"{LOCK_FILE} ({side})")


def _leave_conflicted(ours_path: str, ours: bytes, theirs: bytes) -> None:
    """%A as git leaves a conflicted text file: both versions between markers."""

    def block(data: bytes) -> bytes:
        return data if data.endswith(b"\n") or not data else data + b"\n"

    body = b"<<<<<<< ours\n" + block(ours) + b"=======\n" + block(theirs) + b">>>>>>> theirs\n"
    Path(ours_path).write_bytes(body)


def _stopped_hint(exc: MergeStopped, shown: str) -> str:
    """The data merge stopped on conflicts (its state kept): the exact commands that
    finish it, git's side included (run by tests/git/test_hints.py)."""
    first = next((c.path for c in exc.conflicts if not c.resolved), None)
    take = shlex.quote(os.fsdecode(first)) if first is not None else "PATH"
    what = str(exc).split(". Resolve each", 1)[0]  # "merge of X stopped: N conflicting..."
    return (
        f"{what} (your data branch has not moved). Take one side of each (`dvault checkout "
        f"--theirs -- {take}`, or --ours; `dvault status` lists them), then `dvault merge "
        f"--continue && git add {shlex.quote(shown)} && git commit --no-edit`; or give up "
        "with `dvault merge --abort && git merge --abort`"
    )


def merge_driver(repo: Repository, args: list[str], ensure: Callable[[bytes], None]) -> str:
    """``hook merge-driver %O %A %B %P`` (see the module docstring); ``ensure`` makes a
    commit and everything it needs present locally (fetching from the default remote)."""
    if len(args) != 4:
        raise UsageError("merge-driver takes the four arguments git gives it: %O %A %B %P")
    base_path, ours_path, theirs_path, shown = args
    ours_raw = Path(ours_path).read_bytes() if os.path.isfile(ours_path) else b""
    theirs_raw = Path(theirs_path).read_bytes() if os.path.isfile(theirs_path) else b""
    try:
        _read_pin(base_path, "base")
        _, ours = _read_pin(ours_path, "ours")
        _, theirs = _read_pin(theirs_path, "theirs")
        if ours is None or theirs is None:
            raise CheckFailed(
                f"{shown}: one side has an empty {LOCK_FILE}; choose the pin yourself"
            )
        if ours.commit == theirs.commit:
            return f"both sides pin data {ours.commit[:12]}"
        _, head = repo.refs.head()
        if head is None or head.hex() != ours.commit:
            here = head.hex()[:12] if head is not None else "no commit"
            raise CheckFailed(
                f"the data checked out ({here}) is not the data this branch's {LOCK_FILE} "
                f"pins ({ours.commit[:12]}): dvault checkout {ours.commit[:12]}, then merge again"
            )
        for pin in (ours, theirs):
            ensure(bytes.fromhex(pin.commit))
        message = f"Merge data {theirs.commit[:12]} (git merge of {shown})"
        try:
            report = merge(repo, theirs.commit, message=message)
        except MergeStopped as exc:
            raise CheckFailed(_stopped_hint(exc, shown)) from None
        except MergeConflicts as exc:
            paths = ", ".join(os.fsdecode(c.path) for c in exc.conflicts[:10])
            more = f" and {len(exc.conflicts) - 10} more" if len(exc.conflicts) > 10 else ""
            raise CheckFailed(
                f"data conflicts in {paths}{more} that a data merge cannot record (the "
                f"tracked roots differ); the data is unchanged: edit {shown} to name one of "
                "the two pins, then git add it and git commit"
            ) from None
    except DvaultError:
        _leave_conflicted(ours_path, ours_raw, theirs_raw)
        raise
    Path(ours_path).write_text(pin_for(repo, report.commit).render())
    return f"merged the data of {shown}: {report.kind}, now {report.commit.hex()[:12]}"


__all__ = ["driver_command", "install", "merge_driver", "uninstall"]
