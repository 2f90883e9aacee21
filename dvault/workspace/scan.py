"""Walk the tracked roots of a project and stat every file, fast.

One listing per directory and one ``lstat`` per entry; no file is opened.
Paths are relative to the project root, ``/``-separated, as bytes (file names on Linux
are bytes; they are decoded only for display).
"""

from __future__ import annotations

import itertools
import os
import struct
from collections.abc import Callable, Sequence
from pathlib import Path
from stat import S_IFDIR, S_IFMT, S_ISDIR
from typing import TYPE_CHECKING, Any, NamedTuple

from blake3 import blake3

from dvault.errors import StorageError
from dvault.store.state import MAX_DBS, RACY_NS, STAGE_LAYOUT, FileStat, WorkspaceState
from dvault.treeobjects import MODE_DIR
from dvault.workspace.walk import (  # re-exported: the scan's callers import them here
    ALWAYS_IGNORED as ALWAYS_IGNORED,
)
from dvault.workspace.walk import (
    CHECKOUT_TEMP_SUFFIX as CHECKOUT_TEMP_SUFFIX,
)
from dvault.workspace.walk import (
    IGNORE_FILE as IGNORE_FILE,
)
from dvault.workspace.walk import (
    Ignore as Ignore,
)
from dvault.workspace.walk import (
    _new as _new,
)
from dvault.workspace.walk import (
    _scan_dir as _scan_dir,
)
from dvault.workspace.walk import (
    data_kind as data_kind,
)
from dvault.workspace.walk import (
    in_scopes as in_scopes,
)
from dvault.workspace.walk import (
    load_ignore as load_ignore,
)
from dvault.workspace.walk import (
    under as under,
)
from dvault.workspace.walk import (
    walk as walk,
)

if TYPE_CHECKING:
    from multiprocessing.connection import Connection

Found = list[tuple[bytes, FileStat]]
Sink = Callable[[Found, Found], None]
"""Takes (suspects, untracked) found so far, so a caller can act on them during the walk."""

SINK_FILES = 2000
"""With a sink, found paths are handed over whenever this many have accumulated."""

KnownSignature = Callable[[bytes], "bytes | None"]
"""The recorded signature of a directory (its project-relative path), if any."""

_DIR_FLAGS = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | getattr(os, "O_CLOEXEC", 0)
_SIGNED_STAT = struct.Struct("<IQqqQ")  # st_mode, size, mtime_ns, ctime_ns, inode
_S_IFMT, _S_IFDIR = S_IFMT(0o177777), S_IFDIR  # the file-type bits, and a directory's
SIGNATURE_VERSION = b"dvault-dirsig-1"


def signature_salt(project: Path) -> bytes:
    """What a directory signature depends on besides the listing: the format version and
    the ignore rules (a changed ``.dvaultignore`` can make an ignored file untracked)."""
    try:
        rules = (project / IGNORE_FILE).read_bytes()
    except OSError:
        rules = b"-"
    return SIGNATURE_VERSION + blake3(rules).digest(16)


class DirectoryScanner:
    """Compare directories with the stage, one directory at a time (``status``'s core).

    Every directory's listing -- each name with the ``lstat`` data of each non-directory
    -- is hashed into a signature. The workspace state keeps the signature of each
    directory last found clean (the ``dirsig`` table, docs/format.md); a directory whose
    listing hashes to it is clean without reading one stage entry, so what is left of
    status's cost is the ``lstat`` per file. Any other directory is compared entry by
    entry with its stage entries, read as an LMDB key range.

    A signature proves no more than the per-file comparison it replaces: any write to a
    file changes its ctime, any create, delete or rename changes the listing, and any
    stage change under a directory deletes the signatures of it and its ancestors.
    """

    def __init__(
        self,
        project: Path,
        stage_txn: Any,
        known: KnownSignature,
        ignore: Ignore | None,
        salt: bytes,
        sink: Sink | None = None,
    ) -> None:
        self.base = os.fsencode(project)
        self.project = project
        self.cursor = stage_txn.cursor()
        self.get = stage_txn.get
        self.known = known
        self.ignore = ignore
        self.salt = salt
        self.sink = sink
        self.suspects: Found = []
        self.untracked: Found = []
        self.deleted: list[bytes] = []
        self.compared = 0
        self.clean: dict[bytes, bytes] = {}
        """Signatures of directories found clean by comparison, for the caller to record."""
        self.unsigned: dict[bytes, bytes] | None = None
        """When a dict (an add's scan): the signature of each directory compared entry by
        entry that had no deletion, whose stage will hold exactly its listed files once
        its suspects and untracked files are staged (see :func:`scan_workspace`)."""

    def scan(self, roots: Sequence[bytes], skip: frozenset[bytes] = frozenset()) -> None:
        """Compare everything under ``roots``; directories in ``skip`` are another
        process's (see :func:`scan_workspace`)."""
        stack = []
        for rel in roots:
            full = os.path.join(self.base, rel) if rel else self.base
            try:
                st = os.lstat(full)
            except (FileNotFoundError, NotADirectoryError):
                self._gone(rel)
                continue
            if S_ISDIR(st.st_mode):
                stack.append((full, rel))
                continue
            # a single tracked file: the general walk handles its edge cases
            self._gone(rel, keep_self=True)
            raw = self.get(rel)
            self.compared += raw is not None
            found = walk(self.project, rel, self.ignore)
            if rel in found:
                self._compare(rel, raw, found[rel])
            elif raw is not None:  # now a fifo or a socket: not data
                self.deleted.append(rel)
        sink = self.sink
        while stack:
            stack.extend(self._directory(*stack.pop(), skip))
            if sink is not None and len(self.suspects) + len(self.untracked) >= SINK_FILES:
                self.flush()
        self.flush()

    def flush(self) -> None:
        """Hand what was found so far to the sink, if there is one (then forget it: a
        million new files are never held at once)."""
        if self.sink is not None and (self.suspects or self.untracked):
            self.sink(self.suspects, self.untracked)
            self.suspects, self.untracked = [], []

    def _directory(
        self, dir_full: bytes, dir_rel: bytes, skip: frozenset[bytes]
    ) -> list[tuple[bytes, bytes]]:
        """Compare one directory's own entries; return its subdirectories to walk."""
        prefix = dir_rel + b"/" if dir_rel else b""
        parts = [self.salt]
        names: list[bytes] = []
        stats: list[os.stat_result] = []
        subdirs: list[bytes] = []
        self._list(dir_full, parts, names, stats, subdirs)
        walked: dict[bytes, bytes] = {}  # name -> full path of each subdirectory walked
        ignore = self.ignore
        for name in subdirs:
            child = prefix + name
            if name in ALWAYS_IGNORED or name.endswith(CHECKOUT_TEMP_SUFFIX):
                continue
            if ignore is not None and ignore(child, True):
                continue
            walked[name] = os.path.join(dir_full, name)
        below = [
            (full, prefix + name) for name, full in walked.items() if prefix + name not in skip
        ]
        if names or subdirs:
            signature = blake3(b"".join(parts)).digest(16)
            known = self.known(dir_rel)
            if known is not None and bytes(known[:16]) == signature:
                self.compared += int.from_bytes(known[16:20], "big")
                return below
        else:
            signature = b""
        before = (len(self.suspects), len(self.untracked), len(self.deleted))
        staged = self._own_entries(dir_rel, walked)
        compared = len(staged)
        self.compared += compared
        seen = 0  # entries that are data: a directory with none counts as empty
        pop = staged.pop
        for name, st in zip(names, stats, strict=True):
            if name.endswith(CHECKOUT_TEMP_SUFFIX) or name in ALWAYS_IGNORED:
                continue
            kind = data_kind(st.st_mode)
            if kind is None:
                continue
            child = prefix + name
            if ignore is not None and ignore(child, False):
                continue
            seen += 1
            fs = _new(FileStat, (kind, st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino))
            self._compare(child, pop(name, None), fs)
        self.deleted += (prefix + name for name in staged)
        if dir_rel:  # the directory's own entry: staged only while it was empty
            raw = self.get(dir_rel)
            if raw is not None:
                self.compared += 1
                compared += 1
            if seen or walked:
                if raw is not None:
                    self.deleted.append(dir_rel)
            else:
                st = os.lstat(dir_full)
                fs = FileStat(MODE_DIR, 0, st.st_mtime_ns, st.st_ctime_ns, st.st_ino)
                if raw is None:
                    self.untracked.append((dir_rel, fs))
                elif STAGE_LAYOUT.unpack(raw)[0] != MODE_DIR:
                    self.suspects.append((dir_rel, fs))
        after = (len(self.suspects), len(self.untracked), len(self.deleted))
        if signature and after == before:  # racy entries came back as suspects too
            self.clean[dir_rel] = signature + compared.to_bytes(4, "big")
        elif signature and self.unsigned is not None and after[2] == before[2]:
            # nothing staged here is deleted: after the add the stage holds one entry per
            # listed file (``seen``), the others' stat as listed, or the entry is racy
            self.unsigned[dir_rel] = signature + seen.to_bytes(4, "big")
        return below

    @staticmethod
    def _list(
        dir_full: bytes,
        parts: list[bytes],
        names: list[bytes],
        stats: list[os.stat_result],
        subdirs: list[bytes],
    ) -> None:
        """List a directory: its subdirectories, its other entries (``names``) with their
        lstat (``stats``, in the same order), and the signature's parts (names and stat
        data). The loop runs once per file and is most of what a clean status costs:
        two parallel lists, not a tuple per file, and the mode tested inline, not
        through ``S_ISDIR`` (together ~6% of it, docs/performance.md)."""
        pack = _SIGNED_STAT.pack
        stat = os.stat
        file_mark = b"\0f"
        # each lstat relative to the open directory: one name to look up, not the whole
        # path again (measured at a million files: ~11% less per file). Names come from
        # os.listdir, not scandir: every entry is lstat'ed anyway, and a DirEntry per
        # file costs more than the lstat of the few subdirectories (status at 1M files,
        # 1,000 directories: median 1.79 -> 1.67 s)
        dir_fd = os.open(dir_full, _DIR_FLAGS)
        try:
            for name in os.listdir(dir_full):  # a bytes path: bytes names
                try:
                    st = stat(name, dir_fd=dir_fd, follow_symlinks=False)
                except FileNotFoundError:  # deleted while we listed: as if never seen
                    continue
                mode = st.st_mode
                if mode & _S_IFMT == _S_IFDIR:
                    subdirs.append(name)
                    parts += (name, b"\0d")
                    continue
                names.append(name)
                stats.append(st)
                parts += (
                    name,
                    file_mark,
                    pack(mode, st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino),
                )
        finally:
            os.close(dir_fd)

    def _compare(self, path: bytes, raw: bytes | None, fs: FileStat) -> None:
        """Sort one file into untracked or suspect, or leave it: unchanged."""
        if raw is None:
            self.untracked.append((path, fs))
            return
        m, size, _, mtime, ctime, ino, cached = STAGE_LAYOUT.unpack(raw)
        if not (
            mtime == fs.mtime_ns
            and size == fs.size
            and ino == fs.ino
            and ctime == fs.ctime_ns
            and m == fs.mode
            and mtime < cached - RACY_NS  # else "racy": could have changed unseen by stat
        ):
            self.suspects.append((path, fs))

    def _own_entries(self, dir_rel: bytes, walked: dict[bytes, bytes]) -> dict[bytes, bytes]:
        """The stage entries directly inside ``dir_rel``, by name. The sorted key range
        ``[dir/, dir0)`` also holds every deeper path: the cursor jumps over the subtrees
        of walked subdirectories, and anything staged under a name that is no longer a
        walked directory is deleted."""
        prefix = dir_rel + b"/" if dir_rel else b""
        high = dir_rel + b"0" if dir_rel else None
        cut = len(prefix)
        cursor = self.cursor
        own: dict[bytes, bytes] = {}
        found = cursor.set_range(prefix)
        while found:
            found = False
            for key, value in cursor:  # from the current position on
                if high is not None and key >= high:
                    break
                rest = key[cut:]
                slash = rest.find(b"/")
                if slash < 0:
                    if rest not in walked:  # a walked subdirectory's own key is its own
                        own[rest] = value
                    continue
                sub = rest[:slash]
                if sub in walked:  # jump over the subtree and iterate on from there
                    found = cursor.set_range(prefix + sub + b"0")
                    break
                self.deleted.append(key)  # under something that is no longer a directory
                self.compared += 1
        return own

    def _gone(self, rel: bytes, keep_self: bool = False) -> None:
        """Everything staged under a root that is missing (or is now a single file)."""
        if not keep_self and self.get(rel) is not None:
            self.deleted.append(rel)
            self.compared += 1
        low = rel + b"/"
        found = self.cursor.set_range(low)
        while found:
            key = self.cursor.key()
            if not key.startswith(low):
                break
            self.deleted.append(key)
            self.compared += 1
            found = self.cursor.next()


# -- the whole scan, on all cores ---------------------------------------------------------

PARALLEL_MIN_ENTRIES = 100_000
"""From this many staged paths on, the walk is split over processes. A worker costs
~0.15 s to start; one process compares ~300k paths a second."""

UNITS_PER_WORKER = 4
SPLIT_DEPTH = 3


def split_units(
    project: Path, scopes: list[bytes], ignore: Ignore | None, parts: int
) -> list[bytes]:
    """Directories under ``scopes`` that ``parts`` processes can walk independently: go down
    level by level (at most SPLIT_DEPTH) until there are UNITS_PER_WORKER per process. Files
    above the units stay with the parent; one huge flat directory is one unit."""
    base = os.fsencode(project)
    level = []
    for scope in scopes:
        full = os.path.join(base, scope) if scope else base
        if os.path.isdir(full) and not os.path.islink(full):
            level.append(scope)
    for _ in range(SPLIT_DEPTH):
        if len(level) >= UNITS_PER_WORKER * parts:
            break
        below = []
        for rel in level:
            with os.scandir(os.path.join(base, rel) if rel else base) as it:
                for entry in it:
                    name = entry.name
                    if name in ALWAYS_IGNORED or name.endswith(CHECKOUT_TEMP_SUFFIX):
                        continue
                    child = rel + b"/" + name if rel else name
                    if entry.is_dir(follow_symlinks=False) and (
                        ignore is None or not ignore(child, True)
                    ):
                        below.append(child)
        if not below:
            break
        level = below
    return sorted(set(level))


Claim = Callable[[], int]
"""Hands out the index of the next unit to walk; shared by all the processes of a scan."""


def scan_units(
    project: Path,
    stage_txn: Any,
    known: KnownSignature,
    units: Sequence[bytes],
    claim: Claim,
    ignore: Ignore | None,
    sink: Sink | None = None,
) -> tuple[Found, Found, list[bytes], int, dict[bytes, bytes]]:
    """Walk units, claimed one at a time until none is left, so that processes that start
    late or meet larger units still finish together (a worker's share of
    :func:`scan_workspace`)."""
    scanner = DirectoryScanner(project, stage_txn, known, ignore, signature_salt(project), sink)
    while (index := claim()) < len(units):
        scanner.scan([units[index]])
    return scanner.suspects, scanner.untracked, scanner.deleted, scanner.compared, scanner.clean


def _scan_worker(
    project: str, state_dir: str, units: list[bytes], counter: Any, conn: Connection
) -> None:
    """Entry point of a scan worker: compare the units it claims with the stage, read-only."""
    import lmdb  # deferred: lmdb (third-party) is opened by the worker itself

    from dvault.workspace.processes import claimer  # deferred: multiprocessing, as below

    try:
        env = lmdb.open(state_dir, readonly=True, max_dbs=MAX_DBS, readahead=False)
        try:
            stage = env.open_db(b"stage", create=False)
            signatures = env.open_db(b"dirsig", create=False)
            with env.begin(db=stage) as txn:

                def known(directory: bytes) -> bytes | None:
                    return txn.get(directory + b"/", db=signatures)

                result = scan_units(
                    Path(project), txn, known, units, claimer(counter), load_ignore(Path(project))
                )
        finally:
            env.close()
        conn.send(("done", *result))
    except Exception as exc:  # report, never hang the parent waiting for "done"
        conn.send(("error", f"{type(exc).__name__}: {exc}"))
    finally:
        conn.close()


ScanPart = tuple[Found, Found, list[bytes], int, dict[bytes, bytes]]


def start_scan(
    project: Path, state_dir: Path, units: list[bytes], workers: int
) -> tuple[Claim, Callable[[], list[ScanPart]]]:
    """Start ``workers`` scan workers that claim ``units`` one at a time. Returns the claim
    function for the caller, which walks units too meanwhile, and a function that waits for
    the workers' results (suspects, untracked, deleted, compared, clean signatures)."""
    # deferred: multiprocessing costs ~7 ms, paid by a status only when it splits the walk
    from dvault.workspace import processes

    counter = processes.shared_counter()
    payload = (str(project), str(state_dir), units, counter)
    running = processes.start(_scan_worker, [payload] * workers)

    def results() -> list[ScanPart]:
        done, error = processes.collect(running, lambda _: None)
        if error is not None:
            raise StorageError(f"workspace scan failed: {error}")
        return [(m[1], m[2], m[3], m[4], m[5]) for m in done]

    return processes.claimer(counter), results


class Scan(NamedTuple):
    """What :func:`scan_workspace` found; unchanged paths are only counted."""

    suspects: Found
    untracked: Found
    deleted: list[bytes]
    compared: int
    """Staged paths under the scopes (unchanged = compared - suspects - deleted)."""


class LaterSignatures:
    """What an add's scan (:func:`scan_workspace` with ``later``) leaves to sign: the
    signature of every directory under the scopes that is clean once each suspect and
    untracked path found is staged with the stat it was found with, and not racy (which
    the caller checks). ``complete`` is False when the walk was split over processes,
    whose directories are not collected."""

    def __init__(self) -> None:
        self.found: dict[bytes, bytes] = {}
        self.complete = True


def scan_workspace(
    project: Path,
    scopes: list[bytes],
    ignore: Ignore | None,
    state: WorkspaceState,
    workers: int,
    parallel_min: int = PARALLEL_MIN_ENTRIES,
    sink: Sink | None = None,
    later: LaterSignatures | None = None,
) -> Scan:
    """Compare everything under ``scopes`` with the stage (a :class:`DirectoryScanner`),
    then remember the signatures of the directories found clean.

    A large stage is split into directory units walked by ``workers`` processes, the
    parent included; the parent also walks what lies above the units. With a ``sink``,
    suspects and untracked paths go to it instead of into the result (the scan workers'
    ones when they finish). With ``later`` (``add``, which then stages what was found),
    the signatures to record once that is done are collected there.
    """
    with state.env.begin(db=state.stage_db) as txn:
        generation = state.stage_generation(txn)
        signature_db = state.signature_db

        def known(directory: bytes) -> bytes | None:
            return txn.get(directory + b"/", db=signature_db)

        count = txn.stat(state.stage_db)["entries"]
        units = []
        if count >= parallel_min and workers > 1:
            units = split_units(project, scopes, ignore, workers)
        if len(units) < 2:
            units = []
        pending = None
        claim: Claim = itertools.count().__next__
        if units:
            claim, pending = start_scan(project, state.path, units, workers - 1)
        salt = signature_salt(project)
        scanner = DirectoryScanner(project, txn, known, ignore, salt, sink)
        if later is not None:
            later.complete = not units  # the scan workers' directories are not collected
            scanner.unsigned = later.found
        scanner.scan([s for s in scopes if s not in units], frozenset(units))
        parts = [scan_units(project, txn, known, units, claim, ignore, sink)]
        parts += pending() if pending else []
        suspects, untracked, deleted = scanner.suspects, scanner.untracked, scanner.deleted
        compared, clean = scanner.compared, scanner.clean
        for part in parts:
            if sink is not None:
                if part[0] or part[1]:
                    sink(part[0], part[1])
            else:
                suspects += part[0]
                untracked += part[1]
            deleted += part[2]
            compared += part[3]
            clean.update(part[4])
    state.record_signatures(clean, generation)
    deleted.sort()
    if later is not None:
        later.found.update(clean)
    return Scan(suspects, untracked, deleted, compared)
