"""Branches, tags, HEAD and the reflog, stored as small files under ``.dvault``.

A ref file holds one hex id and a newline. Updates write a temp file, fsync it, rename it
over the old one and fsync the directory, so a crash leaves the old or the new value,
never a torn one. Tags are created with an exclusive link and never change. Every move
of a branch or HEAD is appended to its reflog (``logs/<ref>``) before returning.
"""

from __future__ import annotations

import os
import re
import time
from dataclasses import dataclass
from pathlib import Path

from dvault.errors import CorruptObject, InvalidName, RefExists, UsageError
from dvault.fsutil import append_durable, fsync_dir, write_durable
from dvault.hashing import ObjectId, from_hex

HEADS = "refs/heads/"
TAGS = "refs/tags/"
STASH = "refs/stash/"
"""Saved workspace changes (``dvault stash``): one ref per entry, named by its creation
time in nanoseconds (20 digits), so the newest sorts last."""
_BAD_NAME = re.compile(r"(^[.-])|(\.\.)|([\x00-\x20~^:?*\[\\\x7f])|(\.lock$)|(/$)|(//)|(/\.)|(@\{)")


def check_ref_name(name: str) -> None:
    """Refuse names git would refuse, so refs map safely onto file names everywhere."""
    if not name or name == "@" or _BAD_NAME.search(name) or name in ("HEAD",):
        raise InvalidName(f"invalid ref name {name!r}")


@dataclass(frozen=True, slots=True)
class ReflogEntry:
    old: ObjectId | None
    new: ObjectId | None
    time_ns: int
    user: str
    message: str


class RefStore:
    """Reads and atomically updates the refs of one repository."""

    def __init__(self, root: Path) -> None:
        self.root = root

    # -- reading --------------------------------------------------------------------------

    def _path(self, ref: str) -> Path:
        return self.root / ref

    def read(self, ref: str) -> ObjectId | None:
        """The id a full ref name (``refs/heads/main``) points at, or None."""
        try:
            text = self._path(ref).read_text().strip()
        except FileNotFoundError:
            return None
        except (OSError, UnicodeDecodeError) as exc:
            raise CorruptObject(f"cannot read ref {ref}: {exc}") from None
        try:
            return from_hex(text)
        except ValueError:
            raise CorruptObject(f"ref {ref} is damaged: {text[:80]!r}") from None

    def head(self) -> tuple[str | None, ObjectId | None]:
        """(branch name or None when detached, commit id or None before the first commit)."""
        try:
            text = (self.root / "HEAD").read_text().strip()
        except UnicodeDecodeError as exc:
            raise CorruptObject(f"HEAD is damaged: {exc}") from None
        if text.startswith("ref: "):
            ref = text[5:]
            if not ref.startswith(HEADS) or _BAD_NAME.search(ref[len(HEADS) :]):
                raise CorruptObject(f"HEAD points outside refs/heads: {ref!r}")
            return ref[len(HEADS) :], self.read(ref)
        try:
            return None, from_hex(text)
        except ValueError:
            raise CorruptObject(f"HEAD is damaged: {text[:80]!r}") from None

    def _list(self, prefix: str) -> dict[str, ObjectId]:
        base = self.root / prefix
        found: dict[str, ObjectId] = {}
        for path in base.rglob("*"):
            if path.is_file() and not path.name.startswith("."):
                name = path.relative_to(base).as_posix()
                oid = self.read(prefix + name)
                if oid is not None:
                    found[name] = oid
        return dict(sorted(found.items()))

    def scan(self) -> tuple[dict[str, ObjectId], dict[str, str]]:
        """Every ref under ``refs/`` by full name, and those that cannot be read (ref ->
        why): checks report every damaged ref instead of stopping at the first."""
        good: dict[str, ObjectId] = {}
        bad: dict[str, str] = {}
        for path in sorted((self.root / "refs").rglob("*")):
            if path.is_file() and not path.name.startswith("."):
                ref = path.relative_to(self.root).as_posix()
                try:
                    oid = self.read(ref)
                except CorruptObject as exc:
                    bad[ref] = str(exc)
                    continue
                if oid is not None:
                    good[ref] = oid
        return good, bad

    def branches(self) -> dict[str, ObjectId]:
        return self._list(HEADS)

    def tags(self) -> dict[str, ObjectId]:
        return self._list(TAGS)

    def stashes(self) -> list[tuple[str, ObjectId]]:
        """The stash entries as (full ref, commit id), newest first (``stash@{0}``)."""
        return [(STASH + name, oid) for name, oid in reversed(self._list(STASH).items())]

    def reflog(self, ref: str = "HEAD") -> list[ReflogEntry]:
        """Entries oldest first; a torn final line (crash mid-append) is ignored."""
        path = self.root / "logs" / ref
        try:
            lines = path.read_text(errors="replace").splitlines()
        except FileNotFoundError:
            return []
        entries = []
        for line in lines:
            head, _, message = line.partition("\t")
            parts = head.split(" ")
            if len(parts) != 4:
                continue
            try:
                old, new = (None if p == "-" else from_hex(p) for p in parts[:2])
                entries.append(ReflogEntry(old, new, int(parts[2]), parts[3], message))
            except ValueError:
                continue
        return entries

    # -- writing (callers hold the repository writer lock) ---------------------------------

    def _log(self, ref: str, old: ObjectId | None, new: ObjectId | None, message: str) -> None:
        path = self.root / "logs" / ref
        path.parent.mkdir(parents=True, exist_ok=True)
        user = re.sub(r"\s", "_", _user()) or "unknown"
        line = "{} {} {} {}\t{}\n".format(
            old.hex() if old else "-",
            new.hex() if new else "-",
            time.time_ns(),
            user,
            message.replace("\n", " "),
        )
        append_durable(path, line.encode())

    def update(self, ref: str, new: ObjectId, message: str) -> None:
        """Point ``ref`` at ``new`` atomically and log the move."""
        old = self.read(ref)
        path = self._path(ref)
        path.parent.mkdir(parents=True, exist_ok=True)
        write_durable(path, new.hex().encode() + b"\n")
        self._log(ref, old, new, message)

    def update_head_target(self, new: ObjectId, message: str) -> None:
        """Advance whatever HEAD names: its branch, or HEAD itself when detached."""
        branch, old = self.head()
        if branch is not None:
            self.update(HEADS + branch, new, message)
        else:
            write_durable(self.root / "HEAD", new.hex().encode() + b"\n")
        self._log("HEAD", old, new, message)

    def set_head(self, branch: str | None, commit: ObjectId | None, message: str) -> None:
        """Switch HEAD to ``branch`` (attached) or to ``commit`` (detached)."""
        _, old = self.head()
        if branch is not None:
            check_ref_name(branch)
            write_durable(self.root / "HEAD", f"ref: {HEADS}{branch}\n".encode())
        else:
            assert commit is not None
            write_durable(self.root / "HEAD", commit.hex().encode() + b"\n")
        self._log("HEAD", old, commit, message)

    def restore(self, ref: str, value: ObjectId | str, message: str) -> None:
        """Rewrite a damaged ref (or HEAD) from what its history says; the damaged bytes
        are kept in ``damaged/<ref>`` for inspection. ``value`` is an id, or for HEAD a
        branch name to attach to."""
        path = self.root / ref
        aside = self.root / "damaged" / ref
        if path.is_file():
            aside.parent.mkdir(parents=True, exist_ok=True)
            write_durable(aside, path.read_bytes())
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(value, str):
            check_ref_name(value)
            write_durable(path, f"ref: {HEADS}{value}\n".encode())
            _, new = self.head()
        else:
            write_durable(path, value.hex().encode() + b"\n")
            new = value
        self._log(ref, None, new, message)

    def create_branch(self, name: str, target: ObjectId, message: str) -> None:
        check_ref_name(name)
        if self.read(HEADS + name) is not None:
            raise RefExists(f"branch {name!r} already exists")
        self.update(HEADS + name, target, message)

    def delete_branch(self, name: str) -> ObjectId:
        old = self.read(HEADS + name)
        if old is None:
            raise UsageError(f"no branch named {name!r}")
        os.unlink(self._path(HEADS + name))
        self._log(HEADS + name, old, None, "branch: deleted")
        return old

    def delete(self, ref: str, message: str) -> None:
        """Remove ``ref`` (durably: the directory is synced) and log it; absent is fine."""
        old = self.read(ref)
        path = self._path(ref)
        try:
            os.unlink(path)
        except FileNotFoundError:
            return
        fsync_dir(path.parent)
        self._log(ref, old, None, message)

    def create_tag(self, name: str, target: ObjectId) -> None:
        """Create-only: a tag that exists is never moved, not even to the same id."""
        check_ref_name(name)
        path = self._path(TAGS + name)
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            write_durable(path, target.hex().encode() + b"\n", exclusive=True)
        except FileExistsError:
            raise RefExists(f"tag {name!r} already exists; tags never move") from None
        self._log(TAGS + name, None, target, "tag: created")


def _user() -> str:
    import getpass

    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"
