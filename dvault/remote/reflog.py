"""The remote ref log: an append-only, hash-chained record of every ref update.

Remote refs are not files that get overwritten; they are the result of replaying a log.
Entry N lives at ``refs/log/<N, 16 digits>.json`` (created with a create-only write, so
two pushers cannot both write entry N: the loser re-reads and retries), holds every ref
update of one push (so they become visible together), and holds in ``prev`` the blake3 of
the bytes of the last entry *on the chain* before it. Each clone remembers how far it read
and the last chain entry it verified (``.dvault/remotes/<name>/log.json``); a remote whose
log is shorter than that, or whose verified entry has different bytes, was truncated or
rewritten, and dvault reports it instead of following it.

Entries are counted contiguously from 0: a name far beyond the end, or after a gap, is not
looked at until the entries before it exist. An entry that cannot be on the chain (it does
not decode, is larger than :data:`MAX_ENTRY`, names another position, does not follow the
last chain entry, or carries a signature that does not verify) is a *hole*: reported and
skipped, and the next entry chains to the last valid one, so one junk object written with
a leaked pusher credential cannot stop every client (docs/remotes.md, "Holes").

Rules replayed from the log: a tag (or a pin) is created once and never changes; a branch moves by
fast-forward, or by an entry explicitly marked ``force`` (which is still only appended,
so the old commit stays in the history). A *protected* branch (named by the ``protect``
patterns of the remote's create-only marker, fixed when the remote is created) never
takes a ``force`` entry: one found in the log was written by hand and is reported. A
well-formed, correctly chained entry that breaks a rule is a forgery: it is refused, never
followed (fail closed).

Loading is pure: :meth:`RemoteRefLog.load` returns a :class:`LogView` and saves nothing.
:meth:`RemoteRefLog.accept` is the one way the saved position advances, and only after
the view's new entries passed the commit-graph check (:func:`forged_moves`).
"""

from __future__ import annotations

import fnmatch
import getpass
import json
import re
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from blake3 import blake3

from dvault.commitobjects import Commit
from dvault.errors import CheckFailed, DvaultError
from dvault.fsutil import write_durable
from dvault.hashing import ObjectType
from dvault.objects import decode
from dvault.remote.backend import (
    AlreadyExists,
    Backend,
    DecryptionFailed,
    RemoteError,
    RemoteNotFound,
    RemoteTampered,
)
from dvault.remote.logentry import (
    LOG_PREFIX,
    MAX_ENTRY,
    SIGNATURE_CONTEXT,
    Action,
    LogEntry,
    RefUpdate,
    entry_key,
)
from dvault.remote.marker import MARKER as MARKER  # re-exported: its home is remote.marker
from dvault.remote.marker import marker_bytes as marker_bytes  # re-exported
from dvault.remote.marker import protected_of, read_protected

__all__ = [
    "GENESIS",
    "LOG_PREFIX",
    "MARKER",
    "MAX_ENTRY",
    "SIGNATURE_CONTEXT",
    "Hole",
    "LogEntry",
    "LogState",
    "LogView",
    "RefUpdate",
    "RemoteRefLog",
    "entry_key",
    "forged_moves",
    "is_protected",
    "marker_bytes",
    "read_protected",
]

IMMUTABLE = ("refs/tags/", "refs/pins/")
"""Tags, and pins (``refs/pins/<commit>``: data a git commit's dvault.lock names, pushed
by the pre-push hook), are created once and never move."""
GENESIS = "0" * 64
MAX_APPEND_ATTEMPTS = 8
_ENTRY_NAME = re.compile(r"refs/log/(\d{16})\.json")
_PACK_NAME = re.compile(r"[0-9a-f]{64}")

ReadObject = Callable[[bytes], tuple[ObjectType, bytes]]


def is_protected(ref: str, patterns: tuple[str, ...] | None) -> bool:
    """True for a branch whose name matches a protect pattern (glob, ``*`` spans ``/``)."""
    if not patterns or not ref.startswith("refs/heads/"):
        return False
    branch = ref[len("refs/heads/") :]
    return any(fnmatch.fnmatchcase(branch, p) for p in patterns)


@dataclass
class LogState:
    """The replayed log: ref values, how far it was read, and the last chain entry."""

    seq: int = -1
    """The last position read, a hole or an entry on the chain."""
    head: str = GENESIS
    """The blake3 of the last entry on the chain (the next entry's ``prev``)."""
    refs: dict[str, str] = field(default_factory=dict)
    protected: tuple[str, ...] | None = None
    """Protected-branch patterns of the remote's marker (None: not known, a state saved
    by an earlier dvault)."""
    head_seq: int = -1
    """The position of the last entry on the chain (``seq`` unless holes follow it)."""
    signers: dict[str, str] = field(default_factory=dict)
    """ref -> public key (hex) whose verified signature is on the entry that last set the
    ref; a ref set by an unsigned entry is absent."""
    planned: dict[str, int] = field(default_factory=dict)
    """pack name -> the ``prune-plan`` entry naming it for deletion, until a ``prune-done``
    entry closes that plan: pushers treat what those packs hold as absent (any signed plan
    counts here; only ``prune`` asks whether its signer is trusted)."""

    def to_json(self) -> dict[str, Any]:
        value: dict[str, Any] = {"seq": self.seq, "head": self.head, "refs": self.refs}
        if self.planned:
            value["planned"] = self.planned
        if self.protected is not None:
            value["protected"] = list(self.protected)
        if self.head_seq != self.seq:
            value["head_seq"] = self.head_seq
        if self.signers:
            value["signers"] = self.signers
        return value

    @classmethod
    def from_json(cls, value: dict[str, Any]) -> LogState:
        protected = value.get("protected")
        seq = int(value["seq"])
        return cls(
            seq,
            str(value["head"]),
            {str(k): str(v) for k, v in dict(value["refs"]).items()},
            None if protected is None else tuple(str(p) for p in protected),
            int(value.get("head_seq", seq)),
            {str(k): str(v) for k, v in dict(value.get("signers", {})).items()},
            {str(k): int(v) for k, v in dict(value.get("planned", {})).items()},
        )

    def apply(self, entry: LogEntry, digest: str, where: str) -> None:
        """Replay one entry that is on the chain, enforcing the ref rules: an entry that
        breaks one is a forgery, refused (RemoteTampered), never followed."""
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
            if entry.signature is not None:
                self.signers[update.ref] = entry.signature.key.hex()
            else:
                self.signers.pop(update.ref, None)
        self._apply_action(entry)
        self.seq = self.head_seq = entry.seq
        self.head = digest

    def _apply_action(self, entry: LogEntry) -> None:
        """Track open prune plans (hostile fields: only 64-hex pack names are taken)."""
        action = entry.action
        if action is None:
            return
        if action.kind == "prune-plan":
            for name in action.ids("delete"):
                if isinstance(name, str) and _PACK_NAME.fullmatch(name):
                    self.planned[name] = entry.seq
        elif action.kind == "prune-done":
            plan = action.fields.get("plan")
            self.planned = {n: s for n, s in self.planned.items() if s != plan}


@dataclass(frozen=True)
class Hole:
    """A position of the log that holds no usable entry, and why (fixed text: nothing
    from the remote is quoted)."""

    seq: int
    reason: str

    def describe(self, where: str) -> str:
        return f"remote {where}: ref-log entry {self.seq} {self.reason}; skipped (a hole)"


@dataclass
class LogView:
    """What one :meth:`RemoteRefLog.load` found: the replayed state (not yet saved), the
    chain entries it replayed (with their blake3) and the holes it skipped."""

    state: LogState
    entries: list[tuple[LogEntry, str]] = field(default_factory=list)
    holes: list[Hole] = field(default_factory=list)
    checked: int = 0
    """How many of ``entries`` passed the commit-graph check."""
    accepted: bool = False
    """True once :meth:`RemoteRefLog.accept` saved this state as verified."""

    @property
    def refs(self) -> dict[str, str]:
        return self.state.refs


class RemoteRefLog:
    """Reads, verifies and appends to one remote's ref log.

    ``read_object`` reads a commit for the graph check (the local store first, else the
    remote, verified); without one the check cannot tell and reports nothing. ``warn``
    receives one line per hole when a view is accepted."""

    def __init__(
        self,
        backend: Backend,
        state_file: Path,
        read_object: ReadObject | None = None,
        warn: Callable[[str], None] | None = None,
        name: str | None = None,
        marker: Callable[[], dict[str, Any] | None] | None = None,
    ) -> None:
        self.backend = backend
        self.state_file = state_file
        self.read_object = read_object
        self.warn = warn
        self.name = name  # how messages name the remote (default: its location)
        self.marker = marker  # the marker as the session read it (its first version)

    def describe(self) -> str:
        return self.name or self.backend.describe()

    def _trusted(self) -> LogState | None:
        try:
            return LogState.from_json(json.loads(self.state_file.read_text()))
        except FileNotFoundError:
            return None
        except (ValueError, KeyError, TypeError, OSError, AttributeError):
            return None

    def _save(self, state: LogState) -> None:
        self.state_file.parent.mkdir(parents=True, exist_ok=True)
        write_durable(self.state_file, json.dumps(state.to_json(), indent=1).encode())

    def _count(self) -> tuple[int, dict[int, int]]:
        """How many entries exist contiguously from 0, and each one's listed size. Names
        that are not entry names, and entries past the first gap, are not looked at."""
        sizes: dict[int, int] = {}
        for key, size in self.backend.list(LOG_PREFIX).items():
            match = _ENTRY_NAME.fullmatch(key)
            if match is not None:
                sizes[int(match.group(1))] = size
        count = 0
        while count in sizes:
            count += 1
        return count, sizes

    def _read_entry(self, seq: int, listed: int) -> tuple[LogEntry | None, str, str]:
        """(entry, or None for a hole; blake3 of its bytes; why it is a hole).

        An entry is judged a hole only when two reads agree: a cut transfer or a failing
        disk is not an attack, and an honest entry taken for a hole would split this
        clone's view of the chain from everyone else's."""
        key = entry_key(seq)
        where = f"remote {self.describe()}: {key}"
        if listed > MAX_ENTRY:
            return None, "", f"is {listed} bytes, more than a ref-log entry may hold"
        before: bytes | str | None = None  # the first read's bytes, or what went wrong
        for _attempt in range(2):
            try:
                raw = self.backend.read(key, MAX_ENTRY)
            except RemoteNotFound:
                raise RemoteError(f"{where} is listed but cannot be read; try again") from None
            except RemoteError as exc:
                if not _is_corrupt(exc):
                    raise
                if before == "undecryptable":
                    return None, "", "does not decrypt (altered or foreign bytes)"
                before = "undecryptable"  # stored bytes that fail authentication
                continue
            if len(raw) != listed:
                before = "size"
                continue
            try:
                return LogEntry.decode(raw, where), blake3(raw).hexdigest(), ""
            except RemoteTampered as exc:
                if raw == before:
                    return None, blake3(raw).hexdigest(), _why(str(exc))
                before = raw
        raise RemoteError(
            f"{where}: two reads returned different bytes (or not its listed size of "
            f"{listed}); the connection or the remote is failing, try again"
        )

    def load(self, full: bool = False) -> LogView:
        """The remote's ref log replayed on top of what this clone verified, without
        saving anything: :meth:`accept` does that once the caller's checks passed.

        Only entries after the last one read are read, unless ``full`` (verify), which
        replays the whole log and checks it against what this clone saw before.
        """
        where = f"remote {self.describe()}"
        count, sizes = self._count()
        trusted = self._trusted()
        known = self.marker() if self.marker is not None else None
        protected = read_protected(self.backend) if known is None else protected_of(known, where)
        if trusted is not None and not set(trusted.protected or ()) <= set(protected):
            raise RemoteTampered(
                f"{where}: its marker no longer protects "
                f"{', '.join(sorted(set(trusted.protected or ()) - set(protected)))} "
                f"(this clone saw it protected); {MARKER} was rewritten or deleted"
            )
        if trusted is not None and count <= trusted.seq:
            if count == 0 and self.backend.size(MARKER) is None:
                # no marker (marker.MARKER) and no log: nothing there at all, which is far
                # more often an unmounted disk or a wrong URL than an attacker
                raise RemoteError(
                    f"{where} holds no dvault data, but this clone verified {trusted.seq + 1} "
                    "ref-log entries there: not mounted, wrong location, or deleted"
                )
            raise RemoteTampered(
                f"{where}: ref log has {count} entries but this clone verified "
                f"{trusted.seq + 1}; the remote history was truncated"
            )
        rewritten = RemoteTampered(
            f"{where}: ref-log entry {trusted.head_seq if trusted else 0} changed since it "
            "was verified; the remote history was rewritten"
        )
        if trusted is not None and not full:
            if trusted.head_seq >= 0:
                entry, digest, _ = self._read_entry(trusted.head_seq, sizes[trusted.head_seq])
                if entry is None or digest != trusted.head:
                    raise rewritten
            state = trusted
        else:
            state = LogState()
        state.protected = protected
        view = LogView(state)
        for seq in range(state.seq + 1, count):
            entry, digest, why = self._read_entry(seq, sizes[seq])
            if entry is not None and entry.seq != seq:
                entry, why = None, "names another position"
            elif entry is not None and entry.prev != state.head:
                entry, why = None, "does not follow the last entry on the chain"
            if entry is None:
                view.holes.append(Hole(seq, why))
                state.seq = seq
            else:
                state.apply(entry, digest, where)
                view.entries.append((entry, digest))
            if full and trusted is not None:
                # a position this clone saw as a hole that now chains, or its last chain
                # entry no longer there: entries it verified were replaced
                if trusted.head_seq < seq <= trusted.seq and entry is not None:
                    raise rewritten
                if seq == trusted.head_seq and (entry is None or digest != trusted.head):
                    raise rewritten
        return view

    def problems(self, view: LogView) -> list[str]:
        """Entries of ``view`` not yet checked that move a branch without ``force`` to a
        commit that does not descend from the old one (forgeries); none means checked."""
        new = [entry for entry, _ in view.entries[view.checked :]]
        if self.read_object is None or not new:
            view.checked = len(view.entries)
            return []
        found = forged_moves(self.describe(), self.read_object, new)
        if not found:
            view.checked = len(view.entries)
        return found

    def check(self, view: LogView) -> None:
        """Refuse (RemoteTampered) a view whose new entries hold a forged rewind."""
        found = self.problems(view)
        if found:
            raise RemoteTampered(found[0])

    def accept(self, view: LogView, report_holes: bool = True) -> LogState:
        """Save ``view`` as this clone's verified position, after the graph check: the only
        way the position advances, so an entry never checked is never skipped over.
        Holes are reported here, once, as the position moves past them."""
        self.check(view)
        self._save(view.state)
        view.accepted = True
        if self.warn is not None and report_holes:
            for hole in view.holes:
                self.warn(hole.describe(self.describe()))
        return view.state

    def append(
        self,
        updates: list[tuple[str, str, bool]],
        check: Callable[[LogState], None],
        sign: Callable[[LogEntry], LogEntry] | None = None,
        user: str | None = None,
    ) -> tuple[LogView, str]:
        """Append one entry holding every (ref, new id, force) not yet in effect, retrying
        on a race: the refs of one push become visible together or not at all. Returns
        the accepted view and the blake3 of the entry now at the head of the chain.

        ``check`` re-validates the updates against the freshly loaded state each attempt
        (fast-forward, tag immutability); it raises to refuse. ``sign`` signs the entry.
        ``user`` says who pushes (git's author identity); the login name without it.
        """
        for _attempt in range(MAX_APPEND_ATTEMPTS):
            view = self.load()
            self.check(view)  # never append on top of a forgery
            state = view.state
            check(state)
            changes = tuple(
                RefUpdate(ref, state.refs.get(ref), new, force)
                for ref, new, force in sorted(updates)
                if state.refs.get(ref) != new  # already there (an earlier attempt wrote it)
            )
            if not changes:
                self.accept(view)
                return view, state.head
            entry = LogEntry(
                seq=state.seq + 1,
                prev=state.head,
                updates=changes,
                time_ns=time.time_ns(),
                user=user or _user(),
                host=socket.gethostname(),
            )
            if sign is not None:
                entry = sign(entry)
            raw = entry.encode()
            if len(raw) > MAX_ENTRY:
                raise CheckFailed(
                    f"one push of {len(changes)} refs would make a ref-log entry larger "
                    f"than {MAX_ENTRY >> 20} MiB; push fewer refs at a time"
                )
            try:
                self.backend.create(entry_key(entry.seq), raw)
            except AlreadyExists:
                continue  # another pusher won this sequence number: reload and re-check
            digest = blake3(raw).hexdigest()
            state.apply(entry, digest, "append")
            view.entries.append((entry, digest))
            self.accept(view)
            return view, digest
        raise CheckFailed("remote ref log is busy (another push kept winning); try again")

    def append_action(
        self, action: Action, sign: Callable[[LogEntry], LogEntry], user: str | None = None
    ) -> tuple[LogView, LogEntry]:
        """Append one version 3 entry carrying ``action`` and no ref updates, signed by
        ``sign`` (an action entry must be signed), retrying on a race as :meth:`append`.
        Returns the accepted view and the entry as written."""
        for _attempt in range(MAX_APPEND_ATTEMPTS):
            view = self.load()
            self.check(view)  # never append on top of a forgery
            state = view.state
            entry = sign(
                LogEntry(
                    seq=state.seq + 1,
                    prev=state.head,
                    updates=(),
                    time_ns=time.time_ns(),
                    user=user or _user(),
                    host=socket.gethostname(),
                    action=action,
                )
            )
            raw = entry.encode()
            if len(raw) > MAX_ENTRY:
                raise CheckFailed(
                    f"this {action.kind} would make a ref-log entry larger than "
                    f"{MAX_ENTRY >> 20} MiB; narrow it (fewer branches or commits at a time)"
                )
            try:
                self.backend.create(entry_key(entry.seq), raw)
            except AlreadyExists:
                continue  # another writer won this sequence number: reload and retry
            digest = blake3(raw).hexdigest()
            state.apply(entry, digest, "append")
            view.entries.append((entry, digest))
            self.accept(view)
            return view, entry
        raise CheckFailed("remote ref log is busy (another push kept winning); try again")


def _is_corrupt(exc: RemoteError) -> bool:
    return isinstance(exc, DecryptionFailed)


def _why(message: str) -> str:
    """The reason part of a decode error, as a hole's fixed-text reason."""
    if "signature that does not verify" in message:
        return "carries a signature that does not verify"
    if "malformed signature" in message:
        return "holds a malformed signature"
    if "action entry must be signed" in message:
        return "is an unsigned action entry (forget, prune or redact)"
    return "is not a valid ref-log entry"


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def forged_moves(where: str, read_object: ReadObject, entries: list[LogEntry]) -> list[str]:
    """Ref-log entries that move a branch without ``force`` to a commit that does not
    descend from the old one: honest clients mark every such move ``force``, so the entry
    was written by hand (replay alone cannot tell; it needs the commit graph). Only
    commits are read (parents), never trees or data."""
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
