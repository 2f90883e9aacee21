"""The git side of a project, read with dulwich (no git binary needed at run time).

dvault asks git four things: which commit the work tree is at (and whether it is dirty),
which branch is checked out (a data commit lands on the dvault branch of that name), what
``dvault.lock`` said at some git revision, and where its hooks live.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dvault.errors import UsageError
from dvault.names import is_control


@dataclass(frozen=True)
class GitState:
    commit: str | None
    branch: str | None
    dirty: bool

    def to_meta(self) -> dict[str, Any]:
        return {"commit": self.commit, "branch": self.branch, "dirty": self.dirty}


IGNORE_MARKER = "# dvault: tracked data"
"""The comment dvault writes above the ``.gitignore`` lines it adds for tracked roots."""


def ignore_pattern(path: str) -> str:
    """The ``.gitignore`` line that matches exactly the project path ``path`` (relative to
    the git root): anchored with a leading ``/`` (so a ``#`` or ``!`` never starts the
    line), with gitignore's wildcards ``*?[`` and the escape ``\\`` escaped by a
    backslash, and trailing spaces (which git strips) kept as ``\\ ``. A control
    character cannot be written in a line at all: refused (a newline would add lines of
    the writer's choosing, such as one hiding a planted file from ``git status``)."""
    if any(is_control(c) for c in path):
        raise UsageError(f"cannot write {path!r} into .gitignore: it holds a control character")
    escaped = "".join("\\" + c if c in "*?[\\" else c for c in path)
    body = escaped.rstrip(" ")
    return "/" + body + "\\ " * (len(escaped) - len(body))


def find_git_root(start: Path) -> Path | None:
    """The top of the git work tree containing ``start`` (``.git`` dir or file), if any."""
    for candidate in (start, *start.parents):
        if (candidate / ".git").exists():
            return candidate
    return None


def _open(root: Path) -> Any:
    from dulwich.repo import Repo as GitRepo  # deferred: dulwich, ~60 ms to import

    return GitRepo(str(root))


@dataclass(frozen=True)
class GitHead:
    """What git has checked out: ``branch`` (None when git's HEAD is detached)."""

    branch: str | None


def checked_out(root: Path) -> GitHead | None:
    """The git branch checked out in the work tree holding ``root`` (None outside git).

    Read from git's HEAD alone (no status, no index): cheap enough for every commit. A
    linked worktree's ``.git`` file is followed to its own HEAD."""
    git_root = find_git_root(root)
    if git_root is None:
        return None
    try:
        repo = _open(git_root)
        try:
            chain, _ = repo.refs.follow(b"HEAD")
        finally:
            repo.close()
    except Exception as exc:  # dulwich raises many kinds; a broken git repo is not ours
        raise UsageError(f"cannot read the git repository at {git_root}: {exc}") from None
    if len(chain) > 1 and chain[1].startswith(b"refs/heads/"):
        try:
            return GitHead(chain[1][len(b"refs/heads/") :].decode())
        except UnicodeDecodeError:
            raise UsageError(f"git branch {chain[1]!r} is not UTF-8") from None
    return GitHead(None)


def state(root: Path, roots: Iterable[str] = ()) -> GitState | None:
    """The git commit of the work tree at ``root`` and whether tracked files differ from it.

    Untracked files are not looked at (tracked data is ignored by git anyway, and walking
    a dataset's folders would cost more than the commit). dvault's own edits are not
    "dirty code": ``dvault.lock`` (rewritten by every data commit), and a ``.gitignore``
    that differs from git's HEAD only by the lines dvault writes for the tracked
    ``roots`` (:func:`dvault_ignore_lines`; a line the user added or removed still counts).
    """
    git_root = find_git_root(root)
    if git_root is None:
        return None
    from dulwich import porcelain  # deferred: dulwich, ~60 ms to import

    try:
        repo = _open(git_root)
        try:
            head = repo.head().decode()
        except KeyError:
            head = None  # no commits yet
        branch = None
        ref_chain, _ = repo.refs.follow(b"HEAD")
        if len(ref_chain) > 1 and ref_chain[1].startswith(b"refs/heads/"):
            branch = ref_chain[1][len(b"refs/heads/") :].decode()
        status = porcelain.status(repo, untracked_files="no")
        prefix = root.relative_to(git_root).as_posix()
        own = {(f"{prefix}/dvault.lock" if prefix != "." else "dvault.lock").encode()}
        changed = {
            p.encode() if isinstance(p, str) else p
            for p in [
                *status.unstaged,
                *(q for k in ("add", "delete", "modify") for q in status.staged[k]),
            ]
        }
        if b".gitignore" in changed and _ignore_edits_are_dvaults(
            repo, git_root, dvault_ignore_lines(prefix, roots)
        ):
            own.add(b".gitignore")
        dirty = bool(changed - own)
        repo.close()
    except Exception as exc:  # dulwich raises many kinds; a broken git repo is not ours
        raise UsageError(f"cannot read the git repository at {git_root}: {exc}") from None
    return GitState(head, branch, dirty)


def dvault_ignore_lines(prefix: str, roots: Iterable[str]) -> frozenset[bytes]:
    """The lines dvault writes into the git root's ``.gitignore`` for the tracked
    ``roots`` of a project at ``prefix`` (relative to the git root; ``.`` for the top)."""
    lines = {IGNORE_MARKER.encode()}
    for root in roots:
        rel = f"{prefix}/{root}" if prefix != "." else root
        try:
            lines.add(ignore_pattern(rel).encode())
        except UsageError:
            continue  # a root no .gitignore line can name was never written
    return frozenset(lines)


def _ignore_edits_are_dvaults(repo: Any, git_root: Path, ours: frozenset[bytes]) -> bool:
    """Whether the ``.gitignore`` in git's index and in the work tree both hold git
    HEAD's lines, in order, once the lines in ``ours`` are set aside."""
    from dulwich.object_store import tree_lookup_path  # deferred: dulwich, ~60 ms to import

    def kept(data: bytes) -> list[bytes]:
        return [line for line in data.splitlines() if line not in ours]

    try:
        committed = b""
        try:
            tree = repo[repo.head()].tree
            _, sha = tree_lookup_path(repo.__getitem__, tree, b".gitignore")
            committed = repo[sha].data
        except KeyError:
            pass  # no commit yet, or no .gitignore in it
        index = repo.open_index()
        indexed = repo[index[b".gitignore"].sha].data if b".gitignore" in index else b""
        path = git_root / ".gitignore"
        present = path.read_bytes() if path.is_file() else b""
    except (KeyError, AttributeError, OSError):  # a conflicted entry, an unreadable file
        return False
    base = kept(committed)
    return kept(indexed) == base and kept(present) == base


def read_file_at(root: Path, rev: str, path: str) -> bytes | None:
    """The bytes of ``path`` at git revision ``rev`` (None if the file is absent there)."""
    git_root = find_git_root(root)
    if git_root is None:
        raise UsageError(f"{root} is not inside a git work tree")
    from dulwich.object_store import tree_lookup_path  # deferred: dulwich, ~60 ms to import
    from dulwich.objects import Blob

    repo = _open(git_root)
    try:
        try:
            commit = repo[_resolve(repo, rev)]
        except KeyError:
            raise UsageError(f"unknown git revision {rev!r}") from None
        prefix = root.relative_to(git_root).as_posix()
        rel = f"{prefix}/{path}" if prefix != "." else path
        try:
            _, sha = tree_lookup_path(repo.__getitem__, commit.tree, rel.encode())
        except KeyError:
            return None
        blob = repo[sha]
        return blob.data if isinstance(blob, Blob) else None
    finally:
        repo.close()


def resolve(root: Path, rev: str) -> str:
    """A git revision (HEAD, branch, tag, sha) to a commit sha."""
    git_root = find_git_root(root)
    if git_root is None:
        raise UsageError(f"{root} is not inside a git work tree")
    repo = _open(git_root)
    try:
        return _resolve(repo, rev).decode()
    except KeyError:
        raise UsageError(f"unknown git revision {rev!r}") from None
    finally:
        repo.close()


def _resolve(repo: Any, rev: str) -> bytes:
    from dulwich.objectspec import parse_commit  # deferred: dulwich, ~60 ms to import

    commit = parse_commit(repo, rev.encode())
    sha: bytes = commit.id
    return sha


def hooks_dir(root: Path) -> Path:
    """Where git looks for hooks: ``core.hooksPath`` if set, else ``.git/hooks``."""
    git_root = find_git_root(root)
    if git_root is None:
        raise UsageError("not inside a git work tree; git hooks need one")
    repo = _open(git_root)
    try:
        config = repo.get_config()
        try:
            custom = config.get((b"core",), b"hooksPath").decode()
        except KeyError:
            custom = None
        # the common dir: a linked worktree's own gitdir has a hooks/ git never runs
        controldir = Path(repo.commondir()).resolve()
    finally:
        repo.close()
    if custom:
        path = Path(custom)
        return path if path.is_absolute() else git_root / path
    return controldir / "hooks"


def stage_file(root: Path, path: Path) -> None:
    """``git add`` one file (used when the pre-commit hook is set to commit the data)."""
    git_root = find_git_root(root)
    if git_root is None:
        return
    from dulwich import porcelain  # deferred: dulwich, ~60 ms to import

    porcelain.add(str(git_root), [str(path)])


MAX_REMOTE_REFS = 1000
"""Most remote-tracking refs looked at (the first, in name order): a clone with more is
unusual, and each may mean a walk of its history."""


@dataclass(frozen=True)
class Pushed:
    """Whether a git commit is on a git remote, as this clone last saw it."""

    remotes: tuple[str, ...]
    """The git remotes configured (``[remote "NAME"]`` in the git config)."""
    refs: tuple[str, ...]
    """The remote-tracking refs (``refs/remotes/...``) the commit is reachable from."""
    branch: str | None
    """The branch checked out (for the ``git push`` that fixes it)."""


def pushed(root: Path, commit: str) -> Pushed:
    """Which remote-tracking refs of the git repository holding ``root`` reach ``commit``
    (a full sha). Read from the local refs (what the last fetch or push saw): the remote
    is not asked. A ref naming no commit is skipped, never an error."""
    git_root = find_git_root(root)
    if git_root is None:
        raise UsageError(f"{root} is not inside a git work tree")
    repo = _open(git_root)
    try:
        config = repo.get_config()
        remotes = tuple(
            sorted(
                section[1].decode("utf-8", "replace")
                for section in config.sections()
                if len(section) == 2 and section[0] == b"remote"
            )
        )
        head = checked_out(root)
        target = commit.encode()
        found: list[str] = []
        refs = sorted(r for r in repo.refs.keys(base=b"refs/remotes/"))[:MAX_REMOTE_REFS]
        seen: set[bytes] = set()
        for name in refs:
            try:
                tip = repo.refs[b"refs/remotes/" + name]
                if tip == target or _reaches(repo, tip, target, seen):
                    found.append("refs/remotes/" + name.decode("utf-8", "replace"))
            except (KeyError, ValueError, AttributeError):
                continue  # a symbolic ref to nothing, a ref naming a missing or non-commit
    except UsageError:
        raise
    except Exception as exc:  # dulwich raises many kinds; a broken git repo is not ours
        raise UsageError(f"cannot read the git repository at {git_root}: {exc}") from None
    finally:
        repo.close()
    return Pushed(remotes, tuple(found), head.branch if head else None)


def _reaches(repo: Any, tip: bytes, target: bytes, seen: set[bytes]) -> bool:
    """Whether ``target`` is an ancestor of ``tip``. ``seen`` holds commits already known
    not to reach it (walked from an earlier ref that did not), so each is walked once."""
    stack = [tip]
    walked: set[bytes] = set()
    while stack:
        oid = stack.pop()
        if oid in walked or oid in seen:
            continue
        if oid == target:
            return True
        walked.add(oid)
        stack.extend(repo[oid].parents)
    seen.update(walked)
    return False
