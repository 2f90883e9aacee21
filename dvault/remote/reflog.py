"""The remote ref log: an append-only, hash-chained record of every ref update.

Remote refs are not files that get overwritten; they are the result of replaying a log.
Entry N lives at ``refs/log/<N, 16 digits>.json`` (created with a create-only write, so
two pushers cannot both write entry N: the loser re-reads and retries), holds every ref
update of one push (so they become visible together), and holds the blake3 of entry N-1's
bytes in ``prev``. Each clone remembers the last entry it verified
(``.dvault/remotes/<name>/log.json``); a remote whose log is shorter than that, or whose
entry at that position has different bytes, was truncated or rewritten, and dvault reports
it instead of following it.

Rules replayed from the log: a tag (or a pin) is created once and never changes; a branch moves by
fast-forward, or by an entry explicitly marked ``force`` (which is still only appended,
so the old commit stays in the history). A *protected* branch (named by the ``protect``
patterns of the remote's create-only marker, fixed when the remote is created) never
takes a ``force`` entry: one found in the log was written by hand and is reported.
"""

from __future__ import annotations

import fnmatch
import getpass
import json
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from blake3 import blake3

from dvault.errors import CheckFailed, DvaultError
from dvault.fsutil import write_durable
from dvault.objects import canonical_json
from dvault.remote.backend import (
    MAX_LOG_ENTRY,
    MAX_MARKER,
    AlreadyExists,
    Backend,
    RemoteError,
    RemoteNotFound,
    RemoteTampered,
)

MARKER = "dvault-remote.json"
"""The remote's create-only marker: ``{"format":1,"kind":"dvault-remote"}`` plus, when
the remote was created with protected branches, ``"protect":[<sorted patterns>]``."""
LOG_PREFIX = "refs/log/"
IMMUTABLE = ("refs/tags/", "refs/pins/")
"""Tags, and pins (``refs/pins/<commit>``: data a git commit's dvault.lock names, pushed
by the pre-push hook), are created once and never move."""
GENESIS = "0" * 64
MAX_APPEND_ATTEMPTS = 8


def entry_key(seq: int) -> str:
    return f"{LOG_PREFIX}{seq:016d}.json"


@dataclass(frozen=True)
class RefUpdate:
    """One ref moving from ``old`` (None: created) to ``new`` within a log entry."""

    ref: str
    old: str | None
    new: str
    force: bool = False

    def to_json(self) -> dict[str, Any]:
        return {"force": self.force, "new": self.new, "old": self.old, "ref": self.ref}

    @classmethod
    def from_json(cls, value: Any) -> RefUpdate:
        if not isinstance(value, dict):
            raise ValueError("update is not an object")
        update = cls(ref=value["ref"], old=value["old"], new=value["new"], force=value["force"])
        ok = (
            isinstance(update.force, bool)
            and isinstance(update.ref, str)
            and update.ref.startswith(("refs/heads/", "refs/tags/", "refs/pins/"))
            and _is_hex(update.new)
            and (update.old is None or _is_hex(update.old))
        )
        if not ok:
            raise ValueError("bad field")
        _check_name(update.ref)
        return update


@dataclass(frozen=True)
class LogEntry:
    """One append to the log. Version 2 entries carry every ref of one push, so a push
    of ``main`` and ``v1`` becomes visible all at once or not at all; version 1 entries
    (one ref each, written by earlier dvault) are still read."""

    seq: int
    prev: str
    updates: tuple[RefUpdate, ...]
    time_ns: int
    user: str
    host: str

    def encode(self) -> bytes:
        return canonical_json(
            {
                "host": self.host,
                "prev": self.prev,
                "seq": self.seq,
                "time_ns": self.time_ns,
                "updates": [u.to_json() for u in sorted(self.updates, key=lambda u: u.ref)],
                "user": self.user,
                "version": 2,
            }
        )

    @classmethod
    def decode(cls, raw: bytes, where: str) -> LogEntry:
        try:
            value = json.loads(raw)
            if not isinstance(value, dict) or canonical_json(value) != raw:
                raise ValueError("not canonical")
            if not _is_int(value.get("version")):
                raise ValueError(f"unknown version {value.get('version')!r}")
            if value.get("version") == 1:
                updates: tuple[RefUpdate, ...] = (RefUpdate.from_json(value),)
            elif value.get("version") == 2 and isinstance(value["updates"], list):
                updates = tuple(RefUpdate.from_json(u) for u in value["updates"])
                refs = [u.ref for u in updates]
                if not refs or refs != sorted(set(refs)):
                    raise ValueError("updates empty, repeated or unsorted")
            else:
                raise ValueError(f"unknown version {value.get('version')!r}")
            entry = cls(
                seq=value["seq"],
                prev=value["prev"],
                updates=updates,
                time_ns=value["time_ns"],
                user=value["user"],
                host=value["host"],
            )
            ok = (
                _is_int(entry.seq)
                and entry.seq >= 0
                and _is_int(entry.time_ns)
                and isinstance(entry.user, str)
                and isinstance(entry.host, str)
                and _is_hex(entry.prev)
            )
            if not ok:
                raise ValueError("bad field")
        except (ValueError, KeyError, TypeError, UnicodeDecodeError, RecursionError) as exc:
            raise RemoteTampered(f"{where} is not a valid ref-log entry ({exc})") from None
        return entry


def _check_name(ref: str) -> None:
    """A remote ref name becomes a local file name (refs/remotes/...): refuse anything a
    local ref could not be called, so a hostile log cannot write outside .dvault/refs."""
    from dvault.refs import check_ref_name

    prefix = next(p for p in ("refs/heads/", "refs/tags/", "refs/pins/") if ref.startswith(p))
    try:
        check_ref_name(ref[len(prefix) :])
    except DvaultError as exc:
        raise ValueError(str(exc)) from None


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)  # JSON true is not 1


def marker_bytes(protect: tuple[str, ...] = (), encryption: dict[str, Any] | None = None) -> bytes:
    """The create-only marker ``dvault-remote.json``: what every client must know about
    a remote before using it (protected branches; encryption, see keys.py)."""
    value: dict[str, Any] = {"format": 1, "kind": "dvault-remote"}
    if protect:
        value["protect"] = sorted(set(protect))
    if encryption is not None:
        value["encryption"] = encryption
    return canonical_json(value) + b"\n"


def read_protected(backend: Backend) -> tuple[str, ...]:
    """The protected-branch patterns the remote's marker declares (none without one)."""
    try:
        raw = backend.read(MARKER, MAX_MARKER)
    except RemoteNotFound:
        return ()
    where = f"remote {backend.describe()}: {MARKER}"
    try:
        value = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise RemoteError(f"{where} is not valid JSON") from None
    patterns = value.get("protect", []) if isinstance(value, dict) else None
    if not isinstance(patterns, list) or not all(isinstance(p, str) and p for p in patterns):
        raise RemoteTampered(f"{where} holds a malformed list of protected branches")
    return tuple(sorted(set(patterns)))


def is_protected(ref: str, patterns: tuple[str, ...] | None) -> bool:
    """True for a branch whose name matches a protect pattern (glob, ``*`` spans ``/``)."""
    if not patterns or not ref.startswith("refs/heads/"):
        return False
    branch = ref[len("refs/heads/") :]
    return any(fnmatch.fnmatchcase(branch, p) for p in patterns)


def _is_hex(text: Any) -> bool:
    return isinstance(text, str) and len(text) == 64 and all(c in "0123456789abcdef" for c in text)


@dataclass
class LogState:
    """The replayed log: ref values, and the position and hash of the last entry."""

    seq: int = -1
    head: str = GENESIS
    refs: dict[str, str] = field(default_factory=dict)
    protected: tuple[str, ...] | None = None
    """Protected-branch patterns of the remote's marker (None: not known, a state saved
    by an earlier dvault)."""

    def to_json(self) -> dict[str, Any]:
        value: dict[str, Any] = {"seq": self.seq, "head": self.head, "refs": self.refs}
        if self.protected is not None:
            value["protected"] = list(self.protected)
        return value

    @classmethod
    def from_json(cls, value: dict[str, Any]) -> LogState:
        protected = value.get("protected")
        return cls(
            int(value["seq"]),
            str(value["head"]),
            dict(value["refs"]),
            None if protected is None else tuple(str(p) for p in protected),
        )

    def apply(self, entry: LogEntry, digest: str, where: str) -> None:
        """Replay one entry, enforcing the chain and the ref rules."""
        if entry.seq != self.seq + 1:
            raise RemoteTampered(f"{where}: expected entry {self.seq + 1}, found {entry.seq}")
        if entry.prev != self.head:
            raise RemoteTampered(
                f"{where}: chain broken (entry {entry.seq} does not follow entry {self.seq}); "
                "the remote history was rewritten"
            )
        for update in entry.updates:
            current = self.refs.get(update.ref)
            if update.old != current:
                raise RemoteTampered(
                    f"{where}: entry {entry.seq} moves {update.ref} from {update.old} but it "
                    f"was at {current}"
                )
            if update.ref.startswith(IMMUTABLE) and current is not None:
                raise RemoteTampered(
                    f"{where}: entry {entry.seq} moves {update.ref}, which never moves"
                )
            if update.force and is_protected(update.ref, self.protected):
                raise RemoteTampered(
                    f"{where}: entry {entry.seq} force-moves the protected branch "
                    f"{update.ref}, which only fast-forwards; a forged ref-log entry"
                )
        for update in entry.updates:
            self.refs[update.ref] = update.new
        self.seq = entry.seq
        self.head = digest


class RemoteRefLog:
    """Reads, verifies and appends to one remote's ref log."""

    def __init__(self, backend: Backend, state_file: Path) -> None:
        self.backend = backend
        self.state_file = state_file

    def _trusted(self) -> LogState | None:
        try:
            return LogState.from_json(json.loads(self.state_file.read_text()))
        except FileNotFoundError:
            return None
        except (ValueError, KeyError, TypeError, OSError):
            return None

    def saved(self) -> bytes | None:
        """The verified position as stored (to put back with :meth:`restore`)."""
        try:
            return self.state_file.read_bytes()
        except FileNotFoundError:
            return None

    def restore(self, saved: bytes | None) -> None:
        """Put back a verified position taken by :meth:`saved` (after a refused fetch)."""
        if saved is None:
            self.state_file.unlink(missing_ok=True)
        else:
            write_durable(self.state_file, saved)

    def _save(self, state: LogState) -> None:
        self.state_file.parent.mkdir(parents=True, exist_ok=True)
        write_durable(self.state_file, json.dumps(state.to_json(), indent=1).encode())

    def _read_entry(self, seq: int) -> tuple[LogEntry, str]:
        key = entry_key(seq)
        raw = self.backend.read(key, MAX_LOG_ENTRY)
        where = f"remote {self.backend.describe()}: {key}"
        try:
            return LogEntry.decode(raw, where), blake3(raw).hexdigest()
        except RemoteTampered:
            # read once more before calling it tampering: a cut transfer is not an attack
            again = self.backend.read(key, MAX_LOG_ENTRY)
            if again == raw:
                raise
            try:
                return LogEntry.decode(again, where), blake3(again).hexdigest()
            except RemoteTampered:
                raise RemoteError(
                    f"{where}: two reads returned different invalid bytes; the connection "
                    "or the remote is failing, try again"
                ) from None

    def load(
        self, full: bool = False, observe: Callable[[LogEntry], None] | None = None
    ) -> LogState:
        """The verified current state of the remote's refs.

        Only entries after the last verified one are read, unless ``full`` (verify), which
        replays the whole log and checks it against what this clone saw before; each
        entry replayed is passed to ``observe``.
        """
        where = f"remote {self.backend.describe()}"
        count = len(self.backend.list(LOG_PREFIX))
        trusted = self._trusted()
        protected = read_protected(self.backend)
        if trusted is not None and not set(trusted.protected or ()) <= set(protected):
            raise RemoteTampered(
                f"{where}: its marker no longer protects "
                f"{', '.join(sorted(set(trusted.protected or ()) - set(protected)))} "
                f"(this clone saw it protected); {MARKER} was rewritten or deleted"
            )
        if trusted is not None and count <= trusted.seq:
            if count == 0 and self.backend.size(MARKER) is None:
                # no marker (session.MARKER) and no log: nothing there at all, which is far
                # more often an unmounted disk or a wrong URL than an attacker
                raise RemoteError(
                    f"{where} holds no dvault data, but this clone verified {trusted.seq + 1} "
                    "ref-log entries there: not mounted, wrong location, or deleted"
                )
            raise RemoteTampered(
                f"{where}: ref log has {count} entries but this clone verified "
                f"{trusted.seq + 1}; the remote history was truncated"
            )
        if trusted is not None and trusted.seq >= 0 and not full:
            _, digest = self._read_entry(trusted.seq)
            if digest != trusted.head:
                raise RemoteTampered(
                    f"{where}: ref-log entry {trusted.seq} changed since it was verified; "
                    "the remote history was rewritten"
                )
            state = trusted
        else:
            state = LogState()
        state.protected = protected
        for seq in range(state.seq + 1, count):
            entry, digest = self._read_entry(seq)
            state.apply(entry, digest, where)
            if observe is not None:
                observe(entry)
            if full and trusted is not None and seq == trusted.seq and digest != trusted.head:
                raise RemoteTampered(
                    f"{where}: ref-log entry {seq} changed since it was verified; "
                    "the remote history was rewritten"
                )
        self._save(state)
        return state

    def append(
        self,
        updates: list[tuple[str, str, bool]],
        check: Callable[[LogState], None],
    ) -> LogState:
        """Append one entry holding every (ref, new id, force) not yet in effect, retrying
        on a race: the refs of one push become visible together or not at all.

        ``check`` re-validates the updates against the freshly loaded state each attempt
        (fast-forward, tag immutability); it raises to refuse.
        """
        for _attempt in range(MAX_APPEND_ATTEMPTS):
            state = self.load()
            check(state)
            changes = tuple(
                RefUpdate(ref, state.refs.get(ref), new, force)
                for ref, new, force in sorted(updates)
                if state.refs.get(ref) != new  # already there (an earlier attempt wrote it)
            )
            if not changes:
                return state
            entry = LogEntry(
                seq=state.seq + 1,
                prev=state.head,
                updates=changes,
                time_ns=time.time_ns(),
                user=_user(),
                host=socket.gethostname(),
            )
            raw = entry.encode()
            try:
                self.backend.create(entry_key(entry.seq), raw)
            except AlreadyExists:
                continue  # another pusher won this sequence number: reload and re-check
            state.apply(entry, blake3(raw).hexdigest(), "append")
            self._save(state)
            return state
        raise CheckFailed("remote ref log is busy (another push kept winning); try again")


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def forged_moves(
    where: str, read_object: Callable[[bytes], tuple[Any, bytes]], entries: list[LogEntry]
) -> list[str]:
    """Ref-log entries that move a branch without ``force`` to a commit that does not
    descend from the old one: honest clients mark every such move ``force``, so the entry
    was written by hand (replay alone cannot tell; it needs the commit graph)."""
    from dvault.objects import Commit, decode

    cache: dict[bytes, tuple[bytes, ...] | None] = {}

    def parents(oid: bytes) -> tuple[bytes, ...] | None:
        if oid not in cache:
            try:
                commit = decode(*read_object(oid))
                cache[oid] = commit.parents if isinstance(commit, Commit) else None
            except DvaultError:
                cache[oid] = None  # missing or damaged: reported by the object walk
        return cache[oid]

    def descends(old: bytes, new: bytes) -> bool | None:
        pending, seen, complete = [new], set(), True
        while pending:
            oid = pending.pop()
            if oid == old:
                return True
            if oid in seen:
                continue
            seen.add(oid)
            found = parents(oid)
            complete &= found is not None
            pending.extend(found or ())
        return False if complete else None  # None: history unreadable, cannot tell

    problems = []
    for entry in entries:
        for u in entry.updates:
            if u.force or u.old is None or not u.ref.startswith("refs/heads/"):
                continue
            if descends(bytes.fromhex(u.old), bytes.fromhex(u.new)) is False:
                problems.append(
                    f"remote {where}: ref-log entry {entry.seq} moves {u.ref} "
                    f"from {u.old[:12]} to {u.new[:12]} without force, but that is not a "
                    "fast-forward: a forged ref-log entry"
                )
    return problems
