"""``.dvault/released.json``: commits whose contents a trusted forget released, fetched
without them.

``forget`` releases a commit's contents, never the commit (docs/retention.md), and
``prune`` then deletes what no kept commit needs. A fetch or clone of such a remote
brings every kept commit whole and only the commit objects of the released ones (so
``log`` shows the whole chain), and records each released commit here first, with the
forget entry that released it, as ``.dvault/shallow`` records commits fetched without
their history (remote/shallow.py). ``verify`` then says "released by forget on DATE by
USER (policy ...)" for those commits instead of reporting their trees missing, and a
checkout or ``dvault.open`` of one fails with that one line.

Only a forget entry signed by a key this clone trusts releases anything (kept.py); an
unsigned or tampered entry is a hole already, one signed by another key is reported and
releases nothing, so a forged entry cannot turn damage into "released".

The file is canonical JSON written whole and crash-safe (temp file, fsync, rename), read
as hostile (bounded, every field checked). A commit is recorded *before* the fetch that
leaves its contents out; an entry for a commit whose contents are here is harmless
(readers look at the store first). This module is the only one that reads or writes it.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from dvault import textsafe
from dvault.commitobjects import Tag
from dvault.errors import ContentsReleased, CorruptObject
from dvault.fsutil import os_error, write_durable
from dvault.hashing import ObjectId, ObjectType, from_hex
from dvault.objects import decode
from dvault.reachability import ReadRaw, TypeOf
from dvault.remote.kept import Ignored, Release
from dvault.remote.logsign import trusted_signers
from dvault.remote.reflog import LogView
from dvault.remote.session import RemoteHome
from dvault.retention import Policy
from dvault.signing import fingerprint

FILE = "released.json"
MAX_FILE = 64 << 20
MAX_TEXT = 4096
"""The longest user or policy text kept (a signed entry's user is bounded already)."""


def describe(commit: bytes | str, release: Release) -> str:
    """``COMMIT: released by forget on DATE by USER (policy ...)``, escaped for a
    terminal (user and policy come from the remote)."""
    shown = commit if isinstance(commit, str) else bytes(commit).hex()
    safe = Release(
        release.seq,
        release.time_ns,
        textsafe.line(release.user),
        textsafe.line(release.policy),
        release.branches,
    )
    return f"commit {shown[:12]}: {safe.describe()}"


@dataclass
class Releases:
    """What the trusted forget entries among some log entries released."""

    commits: dict[str, Release] = field(default_factory=dict)
    """Commit hex -> its first release."""
    refs: set[str] = field(default_factory=set)
    """Tags and pins named in ``released_refs``: they no longer keep their commit."""
    ignored: list[Ignored] = field(default_factory=list)
    """Forget entries signed by a key not trusted: they release nothing."""

    def pinned(self, refs: dict[str, str], read: ReadRaw, type_of: TypeOf) -> set[bytes]:
        """The commits ``refs`` (name -> hex) keep whatever was released (peeled)."""
        ids = [bytes.fromhex(h) for r, h in refs.items() if r not in self.refs]
        return peel(read, type_of, ids)


def releases(view: LogView, trusted: Collection[bytes]) -> Releases:
    """What the trusted forget entries among ``view``'s entries (a full replay, or the
    new entries of an incremental one) released, with the first release of each commit;
    forget entries signed by a key not trusted are listed and release nothing."""
    out = Releases()
    found, ignored = out.commits, out.ignored
    for entry, _digest in view.entries:
        action = entry.action
        if action is None or action.kind != "forget":
            continue
        signature = entry.signature
        if signature is None or signature.key not in trusted:
            who = "unsigned" if signature is None else f"key {fingerprint(signature.key)}"
            ignored.append(
                Ignored(entry.seq, action.kind, f"is signed by {who}, not a trusted signer")
            )
            continue
        policy = Policy.from_json(action.fields["policy"]).describe()
        release = Release(entry.seq, entry.time_ns, entry.user, policy, action.ids("branches"))
        for commit in action.ids("released"):
            found.setdefault(commit, release)
        out.refs.update(action.ids("released_refs"))
    return out


def peel(read: ReadRaw, type_of: TypeOf, ids: Iterable[bytes], limit: int = 64) -> set[bytes]:
    """``ids`` and, for each tag among them, what it names (through nested tags): the
    commits a ref keeps whatever was released."""
    found: set[bytes] = set()
    for oid in ids:
        found.add(bytes(oid))
        for _ in range(limit):
            if type_of(oid) != ObjectType.TAG:
                break
            tag = decode(*read(oid))
            if not isinstance(tag, Tag):
                break
            oid = tag.object
            found.add(bytes(oid))
    return found


def _release_from_json(value: object) -> Release:
    if not isinstance(value, dict):
        raise ValueError("not an object")
    seq, time_ns, user, policy = value["seq"], value["time_ns"], value["user"], value["policy"]
    branches = value["branches"]
    ints = all(isinstance(v, int) and not isinstance(v, bool) for v in (seq, time_ns))
    texts = all(isinstance(v, str) and len(v) <= MAX_TEXT for v in (user, policy))
    if not (ints and texts and isinstance(branches, list)):
        raise ValueError("bad field")
    if not all(isinstance(b, str) and len(b) <= MAX_TEXT for b in branches):
        raise ValueError("bad branch")
    return Release(seq, time_ns, user, policy, tuple(branches))


def load(repo_dir: Path) -> dict[ObjectId, Release]:
    """The recorded commits and their releases (none when the file does not exist)."""
    path = repo_dir / FILE
    try:
        with open(path, "rb") as f:
            raw = f.read(MAX_FILE + 1)
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise os_error(exc, "read", path) from None
    try:
        if len(raw) > MAX_FILE:
            raise ValueError("too large")
        value = json.loads(raw)
        if not isinstance(value, dict) or value.get("version") != 1:
            raise ValueError("unknown version")
        commits = value["commits"]
        if not isinstance(commits, dict):
            raise ValueError("bad field")
        return {from_hex(c): _release_from_json(r) for c, r in commits.items()}
    except (ValueError, KeyError, TypeError, RecursionError):
        raise CorruptObject(f"{path} is not a valid list of released commits") from None


def add(repo_dir: Path, found: dict[str, Release]) -> None:
    """Record ``found`` (commit hex -> release); a commit recorded already keeps its
    first release."""
    have = load(repo_dir)
    more = {from_hex(c): r for c, r in found.items() if from_hex(c) not in have}
    if not more:
        return
    have.update(more)
    value = {
        "version": 1,
        "commits": {c.hex(): r.to_json() for c, r in sorted(have.items())},
    }
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    write_durable(repo_dir / FILE, text.encode("ascii"))


def record(repo: RemoteHome, view: LogView, where: str) -> tuple[dict[str, Release], set[str]]:
    """Record the releases of the trusted forget entries among ``view``'s (new) entries;
    warn about untrusted ones. Returns every release recorded here now (earlier
    fetches' too), by commit hex, and the refs those entries no longer keep."""
    found = releases(view, set(trusted_signers(repo).names))
    for item in found.ignored:
        repo.warn(item.describe(where))
    add(repo.dir, found.commits)
    return {c.hex(): r for c, r in load(repo.dir).items()}, found.refs


def skipper(
    released: Collection[str], pinned: Collection[bytes], has_contents: Callable[[bytes], bool]
) -> Callable[[bytes], bool]:
    """The predicate a walk takes as ``contents_gone``: a commit released (hex ids) and
    not pinned by a ref, whose contents ``has_contents`` says are not here."""

    def gone(oid: bytes) -> bool:
        return bytes(oid).hex() in released and bytes(oid) not in pinned and not has_contents(oid)

    return gone


def refuse(repo_dir: Path, commit: bytes, has_tree: bool) -> None:
    """Raise :class:`ContentsReleased` when ``commit``'s contents are not here because a
    trusted forget released them (a checkout or ``dvault.open`` of it)."""
    if has_tree:
        return
    release = load(repo_dir).get(ObjectId(bytes(commit)))
    if release is not None:
        raise ContentsReleased(describe(commit, release))


__all__ = [
    "FILE",
    "Releases",
    "add",
    "describe",
    "load",
    "peel",
    "record",
    "refuse",
    "releases",
    "skipper",
]
