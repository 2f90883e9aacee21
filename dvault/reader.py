"""Read any version of a project without a checkout, from the local store or a remote.

Training code wants ``labels@v3``, not a workspace switched to ``v3``. A :class:`Snapshot`
is one commit's tree, read from a :class:`Source`: the local object store, or a remote
read in place with range reads (directory, S3, encrypted). :class:`VersionFile` streams
one file of it chunk by chunk: each piece is hash-verified by the layer below
(:meth:`ObjectStore.get_raw`, :meth:`Remote.read_object`) before a byte is handed out, and
a seek only fetches the chunk it lands in (found from the chunk list's sizes), so a
100 GB checkpoint is never loaded whole.

Layer: above ``store/``, ``remote/`` and ``repo``; below ``fs`` (fsspec) and the
``dvault.open``/``ls``/``walk`` functions, which are the ones defined here.
"""

from __future__ import annotations

import bisect
import io
import os
import posixpath
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any, Protocol, cast

from dvault.errors import (
    CorruptObject,
    DvaultError,
    IsADirectory,
    MissingObject,
    NotADirectory,
    PathNotFound,
    ReadOnly,
    UsageError,
    warn_stderr,
)
from dvault.hashing import ObjectId, ObjectType
from dvault.objects import MODE_DIR, ChunkList, Commit, Object, TreeEntry, decode_expected

if TYPE_CHECKING:
    from dvault.remote.session import Remote
    from dvault.repo import Repo

MAX_SYMLINKS = 40
"""Symlink hops followed when opening a path (like the kernel's ELOOP limit)."""
READAHEAD = 8 << 20
"""Reading a remote file sequentially, fetch up to this many bytes of the next chunks in
one range request (chunks of one file sit next to each other in a pack): a request per
256 KiB chunk would make the network's latency, not its bandwidth, the limit."""
GAP = 256 << 10
"""Objects of a pack closer than this are fetched in one request (the gap is read too)."""
METADATA_CACHE = 512
"""Trees, commits and chunk lists of a remote kept decoded, so listing a directory or
opening many files of one directory does not re-read the same tree over the network."""


@dataclass(frozen=True)
class Entry:
    """One path of a version, as ``ls``/``walk``/``stat`` report it."""

    path: str
    """Project-relative, ``/``-separated (``""`` is the project root)."""
    name: str
    type: str
    """``"file"``, ``"directory"`` or ``"symlink"``."""
    size: int
    """Bytes of the file; for a directory, the bytes of all files under it."""
    mode: int
    """``0o100644``, ``0o100755``, ``0o040000`` (directory) or ``0o120000`` (symlink)."""
    id: str
    """The content's object id (hex): equal ids mean equal content, in any version."""

    @property
    def is_dir(self) -> bool:
        return self.type == "directory"

    @property
    def is_file(self) -> bool:
        return self.type == "file"

    @classmethod
    def of(cls, path: bytes, entry: TreeEntry) -> Entry:
        kind = "directory" if entry.mode == MODE_DIR else "symlink" if entry.is_link else "file"
        text = os.fsdecode(path)
        return cls(text, text.rpartition("/")[2], kind, entry.size, entry.mode, entry.id.hex())


class Objects(Protocol):
    """The read side of an object store, which the local store and a remote both offer."""

    def get_raw(self, oid: bytes) -> tuple[ObjectType, bytes]: ...
    def get(self, oid: bytes, expect: ObjectType | None = None) -> Object: ...
    def type_of(self, oid: bytes) -> ObjectType | None: ...


# -- sources ----------------------------------------------------------------------------


class Source:
    """Where versions are read from. :meth:`close` releases what opening it took.

    A source survives ``fork`` (PyTorch ``DataLoader`` workers): LMDB handles and S3
    connections must not be shared with a child, so a child reopens them on first use.
    """

    _pid: int
    _objects: Objects

    @property
    def objects(self) -> Objects:
        if self._pid != os.getpid():
            self._pid = os.getpid()
            self._reopen()
        return self._objects

    def _reopen(self) -> None:
        """Open again what the parent process had open (we are a forked child)."""

    def resolve(self, rev: str) -> ObjectId:
        """The commit a revision name (branch, tag, id, ``REV~N``) stands for."""
        raise NotImplementedError

    def refresh(self) -> None:
        """See refs and objects added since the source was opened (a remote is listed
        once on open)."""

    def describe(self) -> str:
        raise NotImplementedError

    def close(self) -> None:
        pass


class LocalObjects:
    """The local store; for an object it lacks, the project's remotes, read in place.

    A partial clone holds the data of only some paths: reading another path of a version
    reads it from a remote (verified like any remote read) instead of failing. A full
    clone never gets here unless its store lost something, and then the remote copy is
    exactly what ``repair`` would fetch.
    """

    def __init__(self, repo: Repo) -> None:
        self.repo = repo
        self.store = repo.store
        self.index = self.store.index
        self._remotes: list[RemoteObjects] | None = None

    def _fallback(self) -> list[RemoteObjects]:
        if self._remotes is None:
            from dvault.remote.session import Remote, remote_specs

            self._remotes = []
            specs = remote_specs(self.repo)
            for name in sorted(specs, key=lambda n: (n != "origin", n)):
                try:
                    remote = Remote(self.repo, specs[name])
                    remote.catalog.refresh()  # footers verified against the pack names
                except DvaultError:
                    continue  # unreachable: the next remote may hold it
                self._remotes.append(RemoteObjects(remote))
        return self._remotes

    def get_raw(self, oid: bytes) -> tuple[ObjectType, bytes]:
        try:
            result: tuple[ObjectType, bytes] = self.store.get_raw(oid)
            return result
        except MissingObject:
            for remote in self._fallback():
                if remote.has(oid):
                    return remote.get_raw(oid)
            raise

    def get(self, oid: bytes, expect: ObjectType | None = None) -> Object:
        return decode_expected(oid, *self.get_raw(oid), expect)

    def type_of(self, oid: bytes) -> ObjectType | None:
        found: ObjectType | None = self.store.type_of(oid)
        return found


class LocalSource(Source):
    """A project's own object store and refs (and its remotes for what a partial clone
    lacks)."""

    def __init__(self, repo: Repo, release: Callable[[], None] | None = None) -> None:
        self.repo = repo
        self._pid = os.getpid()
        self._objects = LocalObjects(repo)
        self._release = release

    def _reopen(self) -> None:
        from dvault.repo import Repo

        self.repo = Repo(self.repo.root)  # the parent's object index is closed in a child
        self._objects = LocalObjects(self.repo)
        self._release = self.repo.close

    def resolve(self, rev: str) -> ObjectId:
        self.objects  # noqa: B018 -- reopens in a forked child
        return self.repo.resolve(rev)

    def describe(self) -> str:
        return str(self.repo.root)

    def close(self) -> None:
        release, self._release = self._release, None
        if release is not None:
            release()


class RemoteObjects:
    """A remote's objects through the calls of :class:`ObjectStore`, so ``trees`` and
    ``revisions`` read a remote unchanged. Every object is one range read, decompressed and
    verified against its id by :meth:`Remote.read_object`."""

    def __init__(self, remote: Remote) -> None:
        self.remote = remote
        self.index = self  # revisions.py looks abbreviated ids up in ``store.index``
        self._cache: OrderedDict[bytes, tuple[ObjectType, bytes]] = OrderedDict()
        self._lock = threading.Lock()

    def get_raw(self, oid: bytes) -> tuple[ObjectType, bytes]:
        with self._lock:
            found = self._cache.get(oid)
            if found is not None:
                self._cache.move_to_end(oid)
                return found
        kind, raw = self.remote.read_object(oid)
        if kind != ObjectType.BLOB:  # metadata only: data is large and read once
            with self._lock:
                self._cache[oid] = (kind, raw)
                if len(self._cache) > METADATA_CACHE:
                    self._cache.popitem(last=False)
        return kind, raw

    def get(self, oid: bytes, expect: ObjectType | None = None) -> Object:
        return decode_expected(oid, *self.get_raw(oid), expect)

    def type_of(self, oid: bytes) -> ObjectType | None:
        return self.remote.catalog.type_of(oid)

    def read_many(
        self, oids: list[ObjectId]
    ) -> dict[ObjectId, tuple[ObjectType, bytes] | DvaultError]:
        """Several objects with as few range reads as their places in the packs allow,
        each verified against its id: a damaged one maps to its error, so the others are
        still usable; missing ones are left out."""
        from dvault.remote.catalog import pack_key
        from dvault.remote.session import verify_stored

        located = [(oid, self.remote.catalog.locate(oid)) for oid in oids]
        groups: list[list[tuple[ObjectId, str, Any]]] = []
        for oid, found in sorted(
            ((o, f) for o, f in located if f is not None), key=lambda x: (x[1][0], x[1][1].offset)
        ):
            pack, entry = found
            if groups:
                _, last_pack, last = groups[-1][-1]
                if last_pack == pack and 0 <= entry.offset - last.offset - last.stored_len <= GAP:
                    groups[-1].append((oid, pack, entry))
                    continue
            groups.append([(oid, pack, entry)])
        result: dict[ObjectId, tuple[ObjectType, bytes] | DvaultError] = {}
        for group in groups:
            pack = group[0][1]
            start = group[0][2].offset
            end = group[-1][2].offset + group[-1][2].stored_len
            blob = self.remote.backend.read_exact(pack_key(pack), start, end - start)
            for oid, _, entry in group:
                stored = blob[entry.offset - start : entry.offset - start + entry.stored_len]
                try:
                    raw = verify_stored(self.remote, oid, entry, stored, pack, None)
                except DvaultError as exc:
                    self.remote.catalog.mark_bad(pack, str(exc))
                    try:  # another pack may list it intact (anyone can create packs)
                        result[oid] = self.remote.read_object(oid)
                    except DvaultError:
                        result[oid] = exc
                else:
                    result[oid] = (entry.type, raw)
        return result

    def has(self, oid: bytes) -> bool:
        return self.remote.catalog.has(oid)

    def find_prefix(self, hex_prefix: str, limit: int = 2) -> list[ObjectId]:
        found = []
        for oid in self.remote.catalog:
            if oid.hex().startswith(hex_prefix):
                found.append(ObjectId(oid))
                if len(found) >= limit:
                    break
        return found


class _RemoteRefs:
    """A remote's refs as :mod:`dvault.revisions` asks for them. A remote has no HEAD:
    it stands for the branch a clone would check out (main, else master, else the first)."""

    def __init__(self, refs: dict[str, str]) -> None:
        self.refs = refs

    def read(self, ref: str) -> ObjectId | None:
        value = self.refs.get(ref)
        return None if value is None else ObjectId(bytes.fromhex(value))

    def head(self) -> tuple[str | None, ObjectId | None]:
        from dvault.refs import HEADS

        branches = sorted(r for r in self.refs if r.startswith(HEADS))
        for ref in (HEADS + "main", HEADS + "master", *branches):
            if ref in self.refs:
                return ref[len(HEADS) :], self.read(ref)
        return None, None


class RemoteSource(Source):
    """A remote read in place: its verified ref log and pack footers, then objects by
    range reads. Nothing is written to the local store."""

    def __init__(self, remote: Remote, release: Callable[[], None] | None = None) -> None:
        self.remote = remote
        self._pid = os.getpid()
        self._objects = RemoteObjects(remote)
        self._release = release
        self.refs = _RemoteRefs({})
        try:
            self.refresh()
        except BaseException:
            self.close()
            raise

    def _reopen(self) -> None:
        from dvault.remote.session import Remote

        # a new backend: boto3 clients and their connection pools are not fork-safe;
        # the catalog (what the parent listed and verified) carries over
        catalog = self.remote.catalog
        self.remote = Remote(self.remote.repo, self.remote.spec)
        catalog.backend = self.remote.backend
        self.remote.catalog = catalog
        self._objects = RemoteObjects(self.remote)

    def refresh(self) -> None:
        from dvault.remote.backend import RemoteError
        from dvault.remote.logsign import refuse_untrusted
        from dvault.remote.session import MARKER

        view = self.remote.log.load()
        if not view.refs and self.remote.backend.size(MARKER) is None:
            raise RemoteError(
                f"remote {self.remote.describe()} holds no dvault data "
                "(wrong location, not mounted, or nothing pushed yet)"
            )
        refuse_untrusted(self.remote.repo, view, self.remote.describe(), None)
        self.remote.refresh_catalog()
        state = self.remote.log.accept(view)  # graph-checked before the position moves
        self.refs = _RemoteRefs(dict(state.refs))

    def resolve(self, rev: str) -> ObjectId:
        from dvault.revisions import resolve

        return resolve(cast("Repo", self), rev)

    def read_commit(self, oid: bytes) -> Commit:  # what revisions.resolve asks of a "repo"
        commit = self.objects.get(oid, ObjectType.COMMIT)
        assert isinstance(commit, Commit)
        return commit

    @property
    def store(self) -> RemoteObjects:
        return cast(RemoteObjects, self.objects)

    def describe(self) -> str:
        return self.remote.describe()

    def close(self) -> None:
        release, self._release = self._release, None
        if release is not None:
            release()


def _repo(repo: Any) -> tuple[Repo, Callable[[], None] | None]:
    from dvault.repo import Repo

    if isinstance(repo, Repo):
        return repo, None  # the caller's: never closed here
    opened = Repo.open(os.fspath(repo) if repo is not None else ".")
    return opened, opened.close


def default_cache_dir() -> Path:
    """Where reads of a remote given by URL (no project) keep the remote's verified ref-log
    position and pack footers: ``$XDG_CACHE_HOME/dvault`` (default ``~/.cache/dvault``)."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(Path.home(), ".cache")
    return Path(base) / "dvault"


def _no_local_objects(oid: bytes) -> tuple[ObjectType, bytes]:
    raise MissingObject(f"object {oid.hex()} is not local (a remote read with no project)")


def _is_url(text: str) -> bool:
    return "://" in text or "/" in text or text.startswith(".") or os.path.isdir(text)


def open_source(
    repo: str | os.PathLike[str] | Repo | None = None,
    remote: str | os.PathLike[str] | None = None,
    *,
    endpoint: str | None = None,
    region: str | None = None,
    profile: str | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
) -> Source:
    """The place to read versions from.

    * neither: the project containing the current directory;
    * ``repo`` (a path or an open :class:`~dvault.Repo`): that project's local store;
    * ``remote`` with ``repo``: a remote configured in that project, by name (or a URL);
    * ``remote`` alone: a remote URL (``s3://bucket/prefix``, ``file:///path`` or a
      directory path) read with no project at all; ``endpoint``, ``region`` and
      ``profile`` are the S3 settings of ``dvault remote add``.

    An encrypted remote asks for its passphrase like the CLI does (``DVAULT_PASSPHRASE``).
    """
    if remote is None:
        local, release = _repo(repo)
        return LocalSource(local, release)
    from dvault.remote.backend import RemoteSpec
    from dvault.remote.session import Remote, remote_specs

    text = os.fspath(remote)
    if repo is not None:
        local, release = _repo(repo)
        try:
            specs = remote_specs(local)
            if text in specs or not _is_url(text):
                if text not in specs:
                    raise UsageError(f"no remote named {text!r} in {local.root}")
                return RemoteSource(Remote(local, specs[text]), release)
        except BaseException:
            if release is not None:
                release()
            raise
        if release is not None:
            release()
    if "://" not in text:
        text = str(Path(text).resolve())
    spec = RemoteSpec("remote", text, endpoint, region, None, profile)
    from blake3 import blake3

    key = blake3(f"{text}\n{endpoint or ''}".encode()).hexdigest()[:24]
    cache = Path(cache_dir) if cache_dir is not None else default_cache_dir() / "remotes" / key
    # What Remote needs of a project: a directory for its bookkeeping (remotes/remote/),
    # a temporary directory (only used when writing, which a reader never does), no local
    # objects (the ref log's graph check reads the remote's) and no settings.
    store = SimpleNamespace(tmp_dir=cache, get_raw=_no_local_objects)
    detached = SimpleNamespace(dir=cache, root=Path.cwd(), store=store, config={}, warn=warn_stderr)
    return RemoteSource(Remote(cast("Repo", detached), spec))


# -- one version ------------------------------------------------------------------------


def _clean(path: str | os.PathLike[str]) -> bytes:
    """A project-relative path as the tree knows it (``b""`` for the root)."""
    text = os.fspath(path).replace("\\", "/") if os.sep == "\\" else os.fspath(path)
    text = posixpath.normpath("/" + text).lstrip("/")
    return os.fsencode(text) if text not in ("", ".") else b""


class Snapshot:
    """One version (commit) of a project, read without a checkout.

    Get one from :func:`dvault.snapshot` or :meth:`dvault.Repo.snapshot`; close it (or use
    ``with``) to release the repository or remote it reads from. Files opened from it
    must be closed before it.
    """

    def __init__(self, source: Source, rev: str, owns_source: bool = False) -> None:
        self.source = source
        self.rev = rev
        self._owns = owns_source
        self.commit_id: ObjectId = source.resolve(rev)
        commit = source.objects.get(self.commit_id, ObjectType.COMMIT)
        assert isinstance(commit, Commit)
        self.commit: Commit = commit
        """The commit object (message, author, time, lineage in ``meta``)."""

    @property
    def id(self) -> str:
        """The commit id (hex)."""
        return self.commit_id.hex()

    def __repr__(self) -> str:
        return f"<dvault.Snapshot {self.rev} ({self.id[:12]}) of {self.source.describe()}>"

    def __enter__(self) -> Snapshot:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._owns:
            self._owns = False
            self.source.close()

    def _lookup(self, rel: bytes) -> TreeEntry | None:
        from dvault.trees import lookup

        return lookup(cast(Any, self.source.objects), self.commit.tree, rel)

    def _entry(self, path: str | os.PathLike[str], follow: bool) -> tuple[bytes, TreeEntry]:
        rel = _clean(path)
        for _ in range(MAX_SYMLINKS):
            entry = self._lookup(rel)
            if entry is None:
                raise PathNotFound(f"{os.fspath(path)}: no such path in {self.rev}")
            if not (follow and entry.is_link):
                return rel, entry
            target = self.source.objects.get_raw(entry.id)[1]
            if target.startswith(b"/"):
                raise PathNotFound(
                    f"{os.fspath(path)}: a symlink to {os.fsdecode(target)}, outside the project"
                )
            joined = posixpath.normpath(posixpath.join(posixpath.dirname(rel), target))
            if joined == b".." or joined.startswith(b"../"):
                raise PathNotFound(f"{os.fspath(path)}: a symlink pointing outside the project")
            rel = b"" if joined == b"." else joined
        raise PathNotFound(f"{os.fspath(path)}: too many levels of symlinks in {self.rev}")

    def stat(self, path: str | os.PathLike[str] = "", follow_symlinks: bool = True) -> Entry:
        """The entry at ``path`` (:class:`~dvault.PathNotFound` when there is none)."""
        rel, entry = self._entry(path, follow_symlinks)
        return Entry.of(rel, entry)

    def exists(self, path: str | os.PathLike[str]) -> bool:
        try:
            self._entry(path, follow=True)
        except PathNotFound:
            return False
        return True

    def ls(self, path: str | os.PathLike[str] = "") -> list[Entry]:
        """The entries of directory ``path``, sorted by name."""
        from dvault.trees import EMPTY_TREE, read_tree

        rel, entry = self._entry(path, follow=True)
        if not entry.is_dir:
            raise NotADirectory(f"{os.fspath(path)}: not a directory in {self.rev}")
        if entry.id == EMPTY_TREE:
            return []
        tree = read_tree(cast(Any, self.source.objects), entry.id)
        return [Entry.of(rel + b"/" + e.name if rel else e.name, e) for e in tree.entries]

    def walk(
        self, path: str | os.PathLike[str] = "", topdown: bool = True
    ) -> Iterator[tuple[str, list[Entry], list[Entry]]]:
        """Like :func:`os.walk`: ``(dirpath, dirs, files)`` for ``path`` and every directory
        under it, with :class:`Entry` lists (``files`` holds symlinks too). Top-down, a
        caller may remove entries from ``dirs`` to skip those directories."""
        rel, entry = self._entry(path, follow=True)
        if not entry.is_dir:
            raise NotADirectory(f"{os.fspath(path)}: not a directory in {self.rev}")
        return self._walk(os.fsdecode(rel), topdown)

    def _walk(self, top: str, topdown: bool) -> Iterator[tuple[str, list[Entry], list[Entry]]]:
        """Iterative (an explicit stack, so no tree can exhaust Python's), refusing a
        directory deeper than ``trees.MAX_DEPTH`` as damage."""
        from dvault.trees import MAX_DEPTH

        # (directory, its listing once read: None until its subdirectories are queued)
        stack: list[tuple[str, tuple[list[Entry], list[Entry]] | None]] = [(top, None)]
        while stack:
            current, listing = stack.pop()
            if listing is not None:  # bottom-up: everything below was yielded
                yield current, *listing
                continue
            if (current.count("/") + 1 if current else 0) >= MAX_DEPTH:
                raise CorruptObject(
                    f"{current[:60]!r}...: directories nest deeper than {MAX_DEPTH} levels "
                    f"in {self.rev}"
                )
            entries = self.ls(current)
            dirs = [e for e in entries if e.is_dir]
            files = [e for e in entries if not e.is_dir]
            if topdown:
                yield current, dirs, files  # the caller may prune ``dirs`` now
            else:
                stack.append((current, (dirs, files)))
            stack.extend((d.path, None) for d in reversed(dirs))

    def files(self, path: str | os.PathLike[str] = "") -> Iterator[Entry]:
        """Every file and symlink at or under ``path``, depth first in name order."""
        from dvault.trees import expand

        rel, entry = self._entry(path, follow=False)
        for p, e in expand(cast(Any, self.source.objects), rel, entry):
            if not e.is_dir:
                yield Entry.of(p, e)

    def open(self, path: str | os.PathLike[str], mode: str = "rb") -> VersionFile:
        """A read-only, seekable binary file over ``path`` of this version, streamed and
        verified chunk by chunk. Only ``"rb"`` is supported: versions never change."""
        if mode not in ("rb", "br"):
            raise ReadOnly(
                f"cannot open {os.fspath(path)} with mode {mode!r}: versions are read-only "
                "(use 'rb'; wrap the file in io.TextIOWrapper for text)"
            )
        rel, entry = self._entry(path, follow=True)
        if entry.is_dir:
            raise IsADirectory(f"{os.fspath(path)}: is a directory in {self.rev}")
        return VersionFile(self.source.objects, entry.id, entry.size, os.fsdecode(rel))

    def read_bytes(self, path: str | os.PathLike[str]) -> bytes:
        """The whole content of a (small) file."""
        with self.open(path) as f:
            return f.read()


class VersionFile(io.BufferedIOBase):
    """One file of one version: ``read``, ``seek``, ``tell``, a context manager.

    Holds at most one chunk (≤ 1 MiB) at a time. A chunk is fetched when a read first
    needs it, from the local store or with one range read from a remote, and verified
    against its id before any of its bytes are returned: damaged or tampered data raises a
    :class:`~dvault.DvaultError`, it is never returned.
    """

    def __init__(
        self,
        objects: Objects,
        oid: ObjectId,
        size: int,
        name: str,
        on_close: Callable[[], None] | None = None,
    ) -> None:
        super().__init__()
        self.name = name
        self.mode = "rb"
        self.id = oid.hex()
        """The content's object id (hex)."""
        self._objects = objects
        self._on_close = on_close
        kind = objects.type_of(oid)
        if kind == ObjectType.CHUNKS:
            chunk_list = ChunkList.decode(objects.get_raw(oid)[1])
            chunks = chunk_list.chunks
        elif kind == ObjectType.BLOB:
            chunks = ((oid, size),)  # the length is checked when the blob is read
        else:
            kind, raw = objects.get_raw(oid)  # raises for a missing object
            if kind == ObjectType.CHUNKS:
                chunks = ChunkList.decode(raw).chunks
            elif kind == ObjectType.BLOB:
                chunks = ((oid, len(raw)),)
            else:
                raise CorruptObject(f"object {oid.hex()} of {name} is a {kind.name.lower()}")
        self._chunks: tuple[tuple[ObjectId, int], ...] = chunks
        starts = [0]
        for _, length in chunks:
            starts.append(starts[-1] + length)
        if starts[-1] != size:
            raise CorruptObject(
                f"{name}: content {oid.hex()} holds {starts[-1]} bytes, its tree says {size}"
            )
        self._starts = starts
        self.size = size
        """The file's length in bytes."""
        self._pos = 0
        self._current: tuple[int, bytes] | None = None
        self._ahead: dict[int, bytes] = {}  # chunks read ahead (remote, sequential reads)
        self._read_many = getattr(objects, "read_many", None)

    def __repr__(self) -> str:
        return f"<dvault.VersionFile {self.name!r} size={self.size}>"

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def writable(self) -> bool:
        return False

    def _check(self) -> None:
        if self.closed:
            raise ValueError("I/O operation on closed file")

    def _chunk(self, i: int) -> bytes:
        current = self._current
        if current is not None and current[0] == i:
            return current[1]
        data = self._ahead.pop(i, None)
        if data is None:
            sequential = i == (current[0] + 1 if current is not None else 0)
            if self._read_many is not None and sequential:
                data = self._read_ahead(i)
            else:
                self._ahead.clear()  # a seek elsewhere: what was read ahead is not wanted
                cid, length = self._chunks[i]
                data = self._checked(cid, length, *self._objects.get_raw(cid))
        self._current = (i, data)
        return data

    def _checked(self, cid: bytes, length: int, kind: ObjectType, data: bytes) -> bytes:
        """A chunk's bytes (already verified against ``cid`` by the store or remote),
        checked to be what the chunk list says: a blob of the listed length."""
        if kind != ObjectType.BLOB or len(data) != length:
            raise CorruptObject(f"chunk {cid.hex()} of {self.name} does not match its list")
        return data

    def _read_ahead(self, i: int) -> bytes:
        """Chunk ``i`` and the following ones, up to READAHEAD bytes, in few requests."""
        assert self._read_many is not None
        last, total = i, 0
        while last < len(self._chunks) and (
            last == i or total + self._chunks[last][1] <= READAHEAD
        ):
            total += self._chunks[last][1]
            last += 1
        wanted: dict[ObjectId, list[int]] = {}
        for j in range(i, last):
            wanted.setdefault(self._chunks[j][0], []).append(j)
        found = self._read_many(list(wanted))
        self._ahead.clear()
        first = b""
        for cid, indexes in wanted.items():
            got = found.get(cid)
            if not isinstance(got, tuple):
                if i not in indexes:
                    continue  # absent or damaged: raised if and when it is read
                if got is not None:
                    raise got
                got = self._objects.get_raw(cid)  # absent: get_raw raises its precise error
            for j in indexes:
                data = self._checked(cid, self._chunks[j][1], *got)
                if j == i:
                    first = data
                else:
                    self._ahead[j] = data
        return first

    def _piece(self, limit: int) -> bytes:
        """Up to ``limit`` bytes at the position, from the one chunk it falls in."""
        i = bisect.bisect_right(self._starts, self._pos) - 1
        data = self._chunk(i)
        offset = self._pos - self._starts[i]
        piece = data[offset : offset + limit]
        self._pos += len(piece)
        return piece

    def read(self, size: int | None = -1) -> bytes:
        self._check()
        remaining = max(0, self.size - self._pos)
        want = remaining if size is None or size < 0 else min(size, remaining)
        if want == 0:
            return b""
        first = self._piece(want)
        if len(first) == want:
            return first
        parts = [first]
        want -= len(first)
        while want > 0:
            piece = self._piece(want)
            parts.append(piece)
            want -= len(piece)
        return b"".join(parts)

    def read1(self, size: int = -1) -> bytes:
        """At most ``size`` bytes, from one chunk only (no more than one fetch)."""
        self._check()
        remaining = max(0, self.size - self._pos)
        want = remaining if size is None or size < 0 else min(size, remaining)
        return self._piece(want) if want else b""

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        data = self.read(len(view))
        view[: len(data)] = data
        return len(data)

    def readinto1(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        data = self.read1(len(view))
        view[: len(data)] = data
        return len(data)

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        self._check()
        if whence == io.SEEK_SET:
            target = offset
        elif whence == io.SEEK_CUR:
            target = self._pos + offset
        elif whence == io.SEEK_END:
            target = self.size + offset
        else:
            raise ValueError(f"invalid whence ({whence})")
        if target < 0:
            raise ValueError(f"negative seek position {target}")
        self._pos = target
        return target

    def tell(self) -> int:
        self._check()
        return self._pos

    def write(self, data: Any) -> int:
        raise ReadOnly(f"{self.name}: versions are read-only")

    def close(self) -> None:
        if not self.closed:
            self._current = None
            self._ahead.clear()
            super().close()
            on_close, self._on_close = self._on_close, None
            if on_close is not None:
                on_close()


# -- the module-level functions (dvault.open, dvault.ls, ...) ----------------------------


def snapshot(
    rev: str = "HEAD",
    *,
    repo: str | os.PathLike[str] | Repo | None = None,
    remote: str | os.PathLike[str] | None = None,
    endpoint: str | None = None,
    region: str | None = None,
    profile: str | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
) -> Snapshot:
    """Version ``rev`` of a project, from its local store or a remote (see
    :func:`open_source` for ``repo``/``remote``). Close it when done. On a remote,
    ``HEAD`` means its main branch (else master, else its first branch)."""
    source = open_source(
        repo, remote, endpoint=endpoint, region=region, profile=profile, cache_dir=cache_dir
    )
    try:
        return Snapshot(source, rev, owns_source=True)
    except BaseException:
        source.close()
        raise


def open(
    path: str | os.PathLike[str],
    rev: str = "HEAD",
    *,
    repo: str | os.PathLike[str] | Repo | None = None,
    remote: str | os.PathLike[str] | None = None,
    mode: str = "rb",
    endpoint: str | None = None,
    region: str | None = None,
    profile: str | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
) -> VersionFile:
    """Open ``path`` as it is in ``rev``, without a checkout: a seekable binary file that
    streams and verifies one chunk at a time. Raises :class:`~dvault.UnknownRevision`,
    :class:`~dvault.PathNotFound` or :class:`~dvault.IsADirectory`."""
    snap = snapshot(
        rev,
        repo=repo,
        remote=remote,
        endpoint=endpoint,
        region=region,
        profile=profile,
        cache_dir=cache_dir,
    )
    try:
        f = snap.open(path, mode)
    except BaseException:
        snap.close()
        raise
    f._on_close = snap.close
    return f


def ls(
    path: str | os.PathLike[str] = "",
    rev: str = "HEAD",
    *,
    repo: str | os.PathLike[str] | Repo | None = None,
    remote: str | os.PathLike[str] | None = None,
    endpoint: str | None = None,
    region: str | None = None,
    profile: str | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
) -> list[Entry]:
    """The entries of directory ``path`` in ``rev`` (a file: just its own entry)."""
    with snapshot(
        rev,
        repo=repo,
        remote=remote,
        endpoint=endpoint,
        region=region,
        profile=profile,
        cache_dir=cache_dir,
    ) as snap:
        entry = snap.stat(path)
        return snap.ls(path) if entry.is_dir else [entry]


def walk(
    path: str | os.PathLike[str] = "",
    rev: str = "HEAD",
    *,
    repo: str | os.PathLike[str] | Repo | None = None,
    remote: str | os.PathLike[str] | None = None,
    topdown: bool = True,
    endpoint: str | None = None,
    region: str | None = None,
    profile: str | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
) -> Iterator[tuple[str, list[Entry], list[Entry]]]:
    """Like :func:`os.walk` over ``path`` in ``rev``: ``(dirpath, dirs, files)`` with
    :class:`Entry` lists. Errors in ``rev`` or ``path`` are raised by this call, not by
    the first iteration."""
    snap = snapshot(
        rev,
        repo=repo,
        remote=remote,
        endpoint=endpoint,
        region=region,
        profile=profile,
        cache_dir=cache_dir,
    )
    try:
        walker = snap.walk(path, topdown)
    except BaseException:
        snap.close()
        raise
    return _closing(walker, snap)


def _closing(
    walker: Iterator[tuple[str, list[Entry], list[Entry]]], snap: Snapshot
) -> Iterator[tuple[str, list[Entry], list[Entry]]]:
    try:
        yield from walker
    finally:
        snap.close()


__all__ = [
    "Entry",
    "LocalSource",
    "RemoteSource",
    "Snapshot",
    "Source",
    "VersionFile",
    "ls",
    "open",
    "open_source",
    "snapshot",
    "walk",
]
