"""Walk the tracked roots of a project and stat every file, fast.

One ``os.scandir`` pass per directory and one ``lstat`` per entry; no file is opened.
Paths are relative to the project root, ``/``-separated, as bytes (file names on Linux
are bytes; they are decoded only for display).
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable, Iterator
from pathlib import Path

from dvault.objects import MODE_DIR, mode_of
from dvault.workspace.state import FileStat

ALWAYS_IGNORED = frozenset({b".dvault", b".git"})
CHECKOUT_TEMP_SUFFIX = b".dvault-tmp"
IGNORE_FILE = ".dvaultignore"

Ignore = Callable[[bytes, bool], bool]


def load_ignore(project: Path) -> Ignore | None:
    """The ``.dvaultignore`` rules (gitignore syntax, via pathspec), or None when absent."""
    path = project / IGNORE_FILE
    if not path.is_file():
        return None
    import pathspec

    spec = pathspec.GitIgnoreSpec.from_lines(path.read_text().splitlines())

    def ignored(rel: bytes, is_dir: bool) -> bool:
        text = os.fsdecode(rel) + ("/" if is_dir else "")
        return bool(spec.match_file(text))

    return ignored


def _skip(name: bytes) -> bool:
    return name in ALWAYS_IGNORED or name.endswith(CHECKOUT_TEMP_SUFFIX)


def walk(project: Path, rel: bytes, ignore: Ignore | None) -> Iterator[tuple[bytes, FileStat]]:
    """Every file, symlink and empty directory at or under ``rel`` (which may be a file)."""
    full = os.path.join(os.fsencode(project), rel) if rel else os.fsencode(project)
    try:
        st = os.lstat(full)
    except FileNotFoundError:
        return
    if not stat.S_ISDIR(st.st_mode):
        if stat.S_ISREG(st.st_mode) or stat.S_ISLNK(st.st_mode):
            yield rel, FileStat.of(st, mode_of(st.st_mode))
        return
    yield from _walk_dir(full, rel, ignore, st)


def _walk_dir(
    full: bytes, rel: bytes, ignore: Ignore | None, dir_stat: os.stat_result
) -> Iterator[tuple[bytes, FileStat]]:
    prefix = rel + b"/" if rel else b""
    empty = True
    subdirs = []
    with os.scandir(full) as it:
        entries = sorted(it, key=lambda e: e.name)
    for entry in entries:
        name = entry.name
        if _skip(name):
            continue
        child = prefix + name
        st = entry.stat(follow_symlinks=False)
        mode = st.st_mode
        if stat.S_ISDIR(mode):
            if ignore is not None and ignore(child, True):
                continue
            subdirs.append((entry.path, child, st))
            empty = False
        elif stat.S_ISREG(mode) or stat.S_ISLNK(mode):
            if ignore is not None and ignore(child, False):
                continue
            empty = False
            yield child, FileStat.of(st, mode_of(mode))
        # sockets, fifos and devices are not data; they are skipped
    for path, child, st in subdirs:
        yield from _walk_dir(path, child, ignore, st)
    if empty and rel:
        yield rel, FileStat.of(dir_stat, MODE_DIR)


def under(path: bytes, scope: bytes) -> bool:
    """True when ``path`` is ``scope`` or inside it (``scope`` empty means everything)."""
    return not scope or path == scope or path.startswith(scope + b"/")
