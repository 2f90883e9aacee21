"""``.dvault/lost+found``: copies of uncommitted files a forced checkout overwrote or
removed, kept until ``gc`` finds them older than ``[gc] lost_found_days`` (default 14).

Each forced write that replaces uncommitted work first keeps what is on disk in one
entry, ``lost+found/<UTC time>-<n>/<path>`` (``20261207T011200Z-1/data/a.csv``): the
files are hard-linked (a checkout renames new content over a path, so the old inode
lives on in the link) or, across file systems, copied; everything is synced, then the
entry, built under a dot-name, is renamed into place and the directory synced — all
before the checkout writes anything. This module alone names, parses and lists entries.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import stat
import time
from dataclasses import dataclass
from pathlib import Path

from dvault.fsutil import fsync_dir, os_error
from dvault.repository import Repository

LOST_FOUND = "lost+found"
DEFAULT_DAYS = 14
"""How long gc keeps an entry unless ``[gc] lost_found_days`` says otherwise."""
_NAME = re.compile(r"(\d{8}T\d{6}Z)-(\d{1,6})")
_STAMP = "%Y%m%dT%H%M%SZ"


@dataclass(frozen=True)
class LostEntry:
    name: str
    path: Path
    time: float
    """When it was made (seconds since the epoch, UTC, from its name)."""
    files: int

    @property
    def when(self) -> str:
        return time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(self.time))


def _dir(repo: Repository) -> Path:
    return repo.dir / LOST_FOUND


def _copy_one(src: bytes, dst: bytes, made: set[bytes]) -> int:
    """Keep ``src`` (a file, symlink or directory of them) at ``dst``; files kept."""
    st = os.lstat(src)
    os.makedirs(os.path.dirname(dst), exist_ok=True)
    made.add(os.path.dirname(dst))
    if stat.S_ISLNK(st.st_mode):
        os.symlink(os.readlink(src), dst)
        return 1
    if stat.S_ISDIR(st.st_mode):
        kept = 0
        for name in os.listdir(src):
            kept += _copy_one(os.path.join(src, name), os.path.join(dst, name), made)
        os.makedirs(dst, exist_ok=True)
        made.add(dst)
        return kept
    if not stat.S_ISREG(st.st_mode):
        return 0
    try:
        os.link(src, dst)
    except OSError:  # another file system, or links not allowed: a real copy
        import shutil  # deferred: ~2 ms that every status would pay for a rare copy

        shutil.copy2(src, dst)
        with open(dst, "rb") as f:
            os.fsync(f.fileno())
    return 1


def keep(repo: Repository, paths: list[bytes]) -> LostEntry | None:
    """Durably copy the uncommitted ``paths`` (project-relative) that are on disk into a
    new entry; None when none of them is."""
    root = os.fsencode(repo.root)
    present = [p for p in paths if os.path.lexists(os.path.join(root, p))]
    if not present:
        return None
    top = _dir(repo)
    top.mkdir(exist_ok=True)
    incoming = top / f".incoming-{os.urandom(16).hex()}"  # as random as uuid4, no import
    made: set[bytes] = set()
    files = 0
    try:
        for path in present:
            files += _copy_one(
                os.path.join(root, path), os.path.join(os.fsencode(incoming), path), made
            )
        for directory in sorted(made, key=len, reverse=True):
            fsync_dir(Path(os.fsdecode(directory)))
        fsync_dir(incoming)
        stamp = time.strftime(_STAMP, time.gmtime())
        for n in range(1, 1_000_000):
            final = top / f"{stamp}-{n}"
            try:
                os.rename(incoming, final)
            except OSError as exc:
                if exc.errno in (errno.EEXIST, errno.ENOTEMPTY):
                    continue
                raise
            break
        fsync_dir(top)
    except OSError as exc:
        import shutil  # deferred: ~2 ms that every status would pay for a rare copy

        with contextlib.suppress(OSError):
            shutil.rmtree(incoming)
        raise os_error(
            exc, "keep a copy in .dvault/lost+found of", os.fsdecode(exc.filename or "")
        ) from None
    return LostEntry(final.name, final, time.time(), files)


def _count(path: Path) -> int:
    return sum(len(files) for _dir, _dirs, files in os.walk(path))


def entries(repo: Repository, count: bool = True) -> list[LostEntry]:
    """Every entry, oldest first (names that are not entries are ignored)."""
    found = []
    try:
        names = os.listdir(_dir(repo))
    except (FileNotFoundError, NotADirectoryError):
        return []
    for name in names:
        match = _NAME.fullmatch(name)
        if match is None:
            continue
        import calendar  # deferred: ~1.5 ms that a status with no entry never needs

        try:
            made = float(calendar.timegm(time.strptime(match.group(1), _STAMP)))
        except (ValueError, OverflowError):
            continue
        path = _dir(repo) / name
        found.append(LostEntry(name, path, made, _count(path) if count else 0))
    return sorted(found, key=lambda e: (e.time, e.name))


def expired(repo: Repository, days: float, now: float | None = None) -> list[Path]:
    """Entries (and abandoned ``.incoming-`` dirs) older than ``days``."""
    cutoff = (time.time() if now is None else now) - days * 86400
    old = [e.path for e in entries(repo, count=False) if e.time < cutoff]
    with contextlib.suppress(OSError):
        for name in os.listdir(_dir(repo)):
            path = _dir(repo) / name
            if name.startswith(".incoming-") and path.lstat().st_mtime < cutoff:
                old.append(path)
    return old


def remove(paths: list[Path]) -> None:
    """Delete expired entries (gc)."""
    import shutil  # deferred: ~2 ms that every status would pay for a rare removal

    for path in paths:
        with contextlib.suppress(FileNotFoundError):
            shutil.rmtree(path)
