"""An opened remote: its backend, ref log and catalog, and verified object reads.

Local bookkeeping for a remote lives under ``.dvault/remotes/<name>/``: the last verified
position of its ref log, its cached pack footers. Remote-tracking refs (what the remote's
branches pointed at when last seen) are ordinary refs under ``refs/remotes/<name>/``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

from dvault.errors import CorruptObject, MissingObject, UsageError
from dvault.hashing import ObjectId, ObjectType
from dvault.refs import RefStore
from dvault.remote import keys, known
from dvault.remote.backend import AlreadyExists, Backend, RemoteError, RemoteSpec, RemoteTampered
from dvault.remote.catalog import RemoteCatalog, pack_key
from dvault.remote.encrypted import EncryptedBackend
from dvault.remote.marker import MARKER, marker_bytes, read_marker, read_protected
from dvault.remote.reflog import LogView, RemoteRefLog
from dvault.remote.registry import default_remote, open_backend
from dvault.store.pack import PackEntry, unpack_object

__all__ = [
    "MARKER",
    "LocalObjects",
    "Remote",
    "RemoteHome",
    "pick_remote",
    "protect_remote",
    "record_tracking",
    "remote_specs",
]


class LocalObjects(Protocol):
    """What an opened remote asks of the local objects: a commit the ref-log check may
    already hold, and a directory for temporary files beside the store."""

    @property
    def tmp_dir(self) -> Path: ...

    def get_raw(self, oid: bytes) -> tuple[ObjectType, bytes]: ...


class RemoteHome(Protocol):
    """What an opened remote asks of the project using it: ``dir`` (its bookkeeping lives
    in ``dir/remotes/<name>/``), ``root`` (a relative remote path starts there), the
    local ``store``, the settings in force and a warning sink. The
    :class:`~dvault.repository.Repository` handle is one; a reader of a remote with no
    project around it (dvault.reader) brings its own."""

    @property
    def dir(self) -> Path: ...

    @property
    def root(self) -> Path: ...

    @property
    def store(self) -> LocalObjects: ...

    @property
    def config(self) -> dict[str, Any]: ...

    @property
    def warn(self) -> Callable[[str], None]: ...


KeepStored = Callable[[PackEntry, bytes], None]


def remote_specs(repo: RemoteHome) -> dict[str, RemoteSpec]:
    sections = repo.config.get("remote", {})
    return {name: RemoteSpec.from_config(name, section) for name, section in sections.items()}


def pick_remote(repo: RemoteHome, name: str | None) -> RemoteSpec:
    """The named remote, or the default one when no name is given
    (:func:`~dvault.remote.registry.default_remote`: ``dvault remote default``, then the
    deprecated ``[git] remote``, then the only remote, then ``origin``)."""
    specs = remote_specs(repo)
    if name is not None:
        if name not in specs:
            raise UsageError(f"no remote named {name!r} (dvault remote list)")
        return specs[name]
    return specs[default_remote(repo.config, specs)[0]]


class Remote:
    """One configured remote, opened for a project (:class:`RemoteHome`): its backend
    (decrypting, when the remote is encrypted), its ref log and its catalog of packs."""

    def __init__(self, repo: RemoteHome, spec: RemoteSpec, backend: Backend | None = None) -> None:
        self.repo = repo
        self.spec = spec
        self.dir = repo.dir / "remotes" / spec.name
        self.marker: dict[str, Any] | None = None  # read once, by _secure
        self.backend = self._secure(backend or open_backend(spec, repo.root))
        self.log = RemoteRefLog(
            self.backend,
            self.dir / "log.json",
            self._read_commit,
            repo.warn,
            self.describe(),
            marker=lambda: self.marker,
        )
        self.catalog = RemoteCatalog(self.backend, self.dir / "footers", repo.warn)
        self._listed = False

    def _read_commit(self, oid: bytes) -> tuple[ObjectType, bytes]:
        """A commit for the ref log's graph check: from the local store, else read from
        the remote and verified (parents are all the check needs)."""
        try:
            found: tuple[ObjectType, bytes] = self.repo.store.get_raw(oid)
            return found
        except MissingObject:
            if not self._listed:  # the catalog is only listed by callers that need it
                self.refresh_catalog()
            return self.read_object(oid)

    def describe(self) -> str:
        return f"{self.spec.name} ({self.spec.url})"

    def refresh_catalog(self) -> None:
        """List the remote's packs and load their footers (see RemoteCatalog.refresh)."""
        self.catalog.refresh()
        self._listed = True

    def _secure(self, backend: Backend) -> Backend:
        """Wrap an encrypted remote's backend in its decryption (asking for the passphrase
        once per process). The marker says whether a remote is encrypted; a remote this
        project configured as encrypted is never used as a plain one, so a remote replaced by
        an empty or unencrypted one cannot make a push send plaintext."""
        self.marker = read_marker(backend, self.dir / "marker.json")
        key_id = keys.encryption_of(self.marker, backend.describe())
        knew = known.lookup(self.spec, self.repo.root)
        if key_id is None:
            if self.spec.encrypt:
                raise RemoteError(
                    f"remote {self.describe()} is configured as encrypted but is not set up "
                    "as one (no encryption in its dvault-remote.json): refusing to send or "
                    "read anything unencrypted; run dvault remote add --encrypt for a new "
                    "location"
                )
            if knew is not None:
                raise RemoteTampered(
                    f"remote {self.describe()} was encrypted (key {knew[:8]}) when you last "
                    "used it, but its dvault-remote.json now names no encryption: it was "
                    "replaced; refusing to send or read anything unencrypted (if that was "
                    f"intended, remove its line from {known.known_file()})"
                )
            return backend
        keys.check_pinned(self.spec.key_id, key_id, self.describe())
        if knew is not None and knew != key_id:
            raise RemoteTampered(
                f"remote {self.describe()} is now encrypted under key {key_id[:8]}, but you "
                f"last used it under key {knew[:8]}: it was replaced; refusing to use it "
                f"(if that was intended, remove its line from {known.known_file()})"
            )
        unlocked = keys.unlocked(backend, key_id, self.spec.name, self.dir, self.repo.warn)
        if knew is None:  # unlocked: this location is now known to be encrypted
            known.remember(self.spec, self.repo.root, key_id)
        return EncryptedBackend(backend, unlocked, self.repo.store.tmp_dir)

    def ensure_marker(self) -> None:
        """Mark the location as a dvault remote on first push (create-only, idempotent)."""
        if self.backend.size(MARKER) is None:
            with contextlib.suppress(AlreadyExists):  # another pusher was first: fine
                self.backend.create(MARKER, marker_bytes())

    def read_object(
        self, oid: bytes, path: str | None = None, keep: KeepStored | None = None
    ) -> tuple[ObjectType, bytes]:
        """One object by range read, decompressed and verified against its id; ``keep``
        is given the verified bytes as stored (to store them without compressing again).
        A copy that fails its hash marks its pack bad and the next pack listing the id
        is tried (anyone who can create packs can list any id)."""
        found = self.catalog.locations(oid)
        what = f"object {oid.hex()}" + (f" (needed by {path})" if path else "")
        if not found:
            raise RemoteError(f"remote {self.describe()}: {what} is missing")
        failures: dict[str, RemoteError] = {}
        for pack, entry in found:
            stored = self.backend.read_exact(pack_key(pack), entry.offset, entry.stored_len)
            try:
                raw = verify_stored(self, oid, entry, stored, pack, path)
            except RemoteError as exc:
                failures[pack] = exc
                continue
            for bad, why in failures.items():  # said once per pack, now that it mattered
                if self.catalog.mark_bad(bad, str(why)):
                    self.repo.warn(f"{why}; another pack provided it")
            if keep is not None:
                keep(entry, stored)
            return entry.type, raw
        for bad, why in failures.items():
            self.catalog.mark_bad(bad, str(why))
        raise next(iter(failures.values()))

    def tampering(self) -> list[str]:
        """What this command found replaced on the remote: a create-only key written more
        than once (its first version was used, so nothing follows the replacement)."""
        return [
            f"remote {self.describe()}: {key} was written {versions} times; a create-only "
            "file was replaced (by a credential allowed a plain PutObject); its first "
            "version was used"
            for key, versions in sorted(self.backend.overwritten().items())
        ]

    def warn_tampering(self) -> None:
        """Report :meth:`tampering` as warnings (fetch, push: the command still does its
        work from the first versions; ``verify --remote`` fails on them instead), and a
        credential that cannot see versions at all."""
        for line in self.tampering():
            self.repo.warn(line)
        if self.backend.version_blind:
            self.repo.warn(
                f"remote {self.describe()}: this credential may not list object versions "
                "(s3:ListBucketVersions), so a replaced file would go unnoticed"
            )


def record_tracking(
    refs: RefStore, remote: Remote, view: LogView, only: list[str] | None = None
) -> None:
    """Remember in ``refs`` where the remote's branches point
    (``refs/remotes/<name>/<branch>``), as an accepted view of its ref log says (``only``:
    these refs alone)."""
    if not view.accepted:  # a programming error: tracking refs follow verified logs only
        raise RuntimeError("record_tracking needs a view accepted by RemoteRefLog.accept")
    name = remote.spec.name
    for ref, hex_id in view.refs.items():
        if only is not None and ref not in only:
            continue
        if ref.startswith("refs/heads/"):
            local = f"refs/remotes/{name}/{ref[len('refs/heads/') :]}"
            oid = ObjectId(bytes.fromhex(hex_id))
            if refs.read(local) != oid:
                refs.update(local, oid, f"remote: seen on {name}")


def protect_remote(backend: Backend, patterns: list[str]) -> tuple[str, ...]:
    """Create the remote's marker declaring protected branches (``remote add --protect``).

    Protections are fixed when a remote is created (the marker is create-only): joining
    an existing remote with the same protections is fine, anything else is refused."""
    want = tuple(sorted(set(patterns)))
    if not all(p and not any(c.isspace() for c in p) for p in want):
        raise UsageError("--protect takes a branch name or glob pattern, e.g. main or 'release/*'")
    with contextlib.suppress(AlreadyExists):
        backend.create(MARKER, marker_bytes(want))
    have = read_protected(backend)
    if have != want:
        shown = ", ".join(have) if have else "no protected branches"
        raise UsageError(
            f"remote {backend.describe()} already exists with {shown}; protected branches "
            "are fixed when a remote is created"
        )
    return want


def verify_stored(
    remote: Remote, oid: bytes, entry: PackEntry, stored: bytes, pack: str, path: str | None
) -> bytes:
    """Decompress and hash-check one object read from a remote pack."""
    where = (
        f"remote {remote.describe()}: object {oid.hex()}"
        + (f" (file {path})" if path else "")
        + f" in pack {pack[:16]}"
    )
    try:
        return unpack_object(oid, entry, stored, where)
    except CorruptObject as exc:
        raise RemoteError(f"{exc} on the remote") from None
