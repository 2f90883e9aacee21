"""What a review says of reviewed revisions altered after they were recorded (issue 22).

The reviewed revisions are the pinned commit and the inputs it was derived from. A
redaction (``dvault redact``, docs/retention.md "Erasure") erases some of a revision's file
contents and keeps its commit id; a forget (``dvault forget``) releases a revision's
contents on one remote, and a later prune may delete them. For each altered revision the
review says which paths were erased (the path where this clone's tree names it, else its
hash), when, by whom, why, which trusted key signed the record on which remote (or that
only this clone records it), and checks everything else the revision holds, so "erased on
purpose" is never confused with "missing" and the rest is still proven whole.

Redactions come from this clone's record (.dvault/erased.json) and from a full replay of
each remote's ref log (only entries a trusted key signed: dvault/remote/redaction.py);
releases from each remote's kept set (dvault/remote/kept.py). Users and reasons are
remote text: the renderers (dvault/reviewdoc.py) escape them.
"""

from __future__ import annotations

import datetime
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from dvault.commitobjects import Tag
from dvault.errors import DvaultError
from dvault.hashing import ObjectId, ObjectType
from dvault.objects import decode
from dvault.reachability import walk
from dvault.remote.kept import KeptSet, Release
from dvault.remote.redaction import LoggedRedaction
from dvault.repository import Repository
from dvault.store import erased
from dvault.trees import walk as walk_tree


def _when(time_ns: int) -> str:
    try:
        stamp = datetime.datetime.fromtimestamp(time_ns / 1e9, datetime.UTC)
    except (OverflowError, OSError, ValueError):  # a forged time far outside any calendar
        return f"time_ns {time_ns}"
    return stamp.strftime("%Y-%m-%d %H:%M:%S UTC")


@dataclass(frozen=True)
class Erasure:
    """One redaction (``dvault redact``) that erased contents of a reviewed revision, as
    this clone knows it: from its own record (.dvault/erased.json) and from each remote's
    ref log, where only an entry signed by a trusted key counts. ``user`` and ``reason``
    are remote text: the renderers escape them."""

    time_ns: int
    user: str
    reason: str
    objects: int
    paths: tuple[str, ...] = ()
    """The erased paths found in the revision's tree (blake3 of the path matches)."""
    path_hashes: tuple[str, ...] = ()
    """The path hashes no path of the revision's tree matched (the path is unknown here)."""
    signers: tuple[str, ...] = ()
    """Fingerprints of the trusted keys that signed its ref-log entry."""
    remotes: tuple[str, ...] = ()
    """The remotes whose ref log holds it, signed by a trusted key."""

    @property
    def when(self) -> str:
        return _when(self.time_ns)

    def what(self) -> str:
        """The erased paths, then the hashes of the ones not known here."""
        hashes = [f"a path with hash {h[:16]} (not in this clone)" for h in self.path_hashes]
        return ", ".join([*self.paths, *hashes]) or "(no path named)"

    def record(self) -> str:
        """Where the record is and who vouches for it."""
        if not self.signers:
            return "recorded in this clone only: no configured remote holds a signed entry"
        return (
            f"signed by key {', '.join(self.signers)} in the ref log of remote "
            f"{', '.join(self.remotes)}"
        )

    def describe(self) -> str:
        return (
            f"{self.what()} erased on {self.when} by {self.user}: {self.reason} ({self.record()})"
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "time": self.when,
            "time_ns": self.time_ns,
            "user": self.user,
            "reason": self.reason,
            "objects": self.objects,
            "paths": list(self.paths),
            "path_hashes": list(self.path_hashes),
            "signers": list(self.signers),
            "remotes": list(self.remotes),
        }


@dataclass
class Altered:
    """A reviewed revision (the pinned commit or one of its inputs) whose contents a
    redaction erased: its id is unchanged; what else of it still verifies here."""

    commit: str
    role: str  # "pinned" or "input"
    erasures: list[Erasure] = field(default_factory=list)
    rest: str = "not-local"
    """``verified``: every other object is here (and, with ``rehashed``, re-hashed);
    ``problems``: something else is missing or damaged; ``not-local``: not checked."""
    checked: int = 0
    erased: int = 0
    rehashed: bool = False
    problems: list[str] = field(default_factory=list)

    def rest_brief(self) -> str:
        """What :meth:`rest_text` says, in three words or so (the check's reason)."""
        if self.rest == "not-local":
            return "the rest is not checked (not in the local store)"
        return "the rest does NOT verify" if self.problems else "everything else verifies"

    def rest_text(self) -> str:
        if self.rest == "not-local":
            return "the rest is not checked: the commit is not in the local store (dvault fetch)"
        if self.problems:
            return (
                f"the rest does NOT verify: {len(self.problems)} problem(s), e.g. "
                f"{self.problems[0]}"
            )
        how = (
            "each re-hashed to its id"
            if self.rehashed
            else "commit and trees re-hashed; file contents only with --read-data"
        )
        return (
            f"everything else verifies: {self.checked} other object(s) in this clone "
            f"({how}); {self.erased} object(s) absent because erased"
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "commit": self.commit,
            "role": self.role,
            "redactions": [e.to_json() for e in self.erasures],
            "rest": {
                "status": self.rest,
                "objects": self.checked,
                "erased": self.erased,
                "rehashed": self.rehashed,
                "problems": self.problems,
                "text": self.rest_text(),
            },
        }


@dataclass(frozen=True)
class Released:
    """A reviewed revision whose contents a trusted forget entry on ``remote`` released
    (a later prune may have deleted them; the commit itself stays)."""

    commit: str
    role: str
    remote: str
    release: Release

    def describe(self) -> str:
        return f"contents {self.release.describe()} on remote {self.remote}"

    def to_json(self) -> dict[str, Any]:
        return {
            "commit": self.commit,
            "role": self.role,
            "remote": self.remote,
            "text": self.describe(),
            **self.release.to_json(),
        }


@dataclass
class RemoteLog:
    """What a review reads of one remote's ref log (a full replay, graph-checked): the
    redactions trusted keys signed, and the kept set (which commits a forget released)."""

    redactions: list[LoggedRedaction]
    kept: KeptSet
    released: dict[str, Release] = field(default_factory=dict)
    """The reviewed revisions (hex) whose contents a trusted forget released there."""


MAX_TAGS_PEELED = 1000
"""Most annotated tags of one remote read to see whether one keeps a released revision."""


def releases(
    kept: KeptSet,
    revisions: list[tuple[str, str]],
    read: Callable[[bytes], tuple[ObjectType, bytes]],
    type_of: Callable[[bytes], ObjectType | None],
) -> dict[str, Release]:
    """The release of each reviewed revision on one remote, unless a kept annotated tag
    points at it: the kept set holds the tag object's id (prune's walk peels it, so the
    contents stay), so the tags are peeled here, and only when something was released."""
    found = {c: r for c, _ in revisions if (r := kept.release_of(c)) is not None}
    for oid_hex in list(kept.pinned)[:MAX_TAGS_PEELED] if found else []:
        oid = bytes.fromhex(oid_hex)
        for _level in range(4):  # a tag of a tag, a few deep at most
            if type_of(oid) != ObjectType.TAG:
                break
            try:
                tag = decode(*read(oid))
            except DvaultError:
                break
            if not isinstance(tag, Tag):
                break
            oid = tag.object
        found.pop(oid.hex(), None)
    return found


def reviewed(pinned: str, graph: dict[str, Any] | None) -> list[tuple[str, str]]:
    """The reviewed revisions: the pinned commit, then the inputs it was derived from."""
    found = [(pinned, "pinned")]
    for edge in (graph or {}).get("edges", []):
        new = all(edge["target"] != c for c, _ in found)
        if edge["kind"] == "input" and edge["source"] == pinned and new:
            found.append((edge["target"], "input"))
    return found


MAX_PATHS_HASHED = 2_000_000
"""Most paths of one revision hashed to name erased paths (beyond: their hashes shown)."""

_Known = dict[tuple[int, frozenset[ObjectId]], tuple[erased.Redaction, set[str], set[str]]]


def altered(
    repo: Repository,
    revisions: list[tuple[str, str]],
    logs: dict[str, RemoteLog],
    read_data: bool,
) -> list[Altered]:
    """Each reviewed revision a redaction altered: the redactions recorded here and the
    trusted ones in each remote's log (the same redaction once, with its signers), the
    paths this clone can name, and a check of everything else the revision holds."""
    known: _Known = {}
    for record in erased.load(repo.dir):
        known.setdefault((record.time_ns, record.objects), (record, set(), set()))
    for name, log in logs.items():
        for item in log.redactions:
            key = (item.record.time_ns, item.record.objects)
            _, signers, remotes = known.setdefault(key, (item.record, set(), set()))
            signers.add(item.signer)
            remotes.add(name)
    gone = {oid for record, _, _ in known.values() for oid in record.objects}
    out = []
    for commit, role in revisions:
        records = [v for v in known.values() if commit in v[0].commits]
        if not records:
            continue
        found = Altered(commit, role)
        paths = _paths(repo, commit, {h for r, _, _ in records for h in r.path_hashes})
        for record, signers, remotes in sorted(records, key=lambda v: v[0].time_ns):
            found.erasures.append(
                Erasure(
                    record.time_ns,
                    record.user,
                    record.reason,
                    len(record.objects),
                    tuple(sorted(paths[h] for h in record.path_hashes if h in paths)),
                    tuple(h for h in record.path_hashes if h not in paths),
                    tuple(sorted(signers)),
                    tuple(sorted(remotes)),
                )
            )
        _verify_rest(repo, found, gone, read_data)
        out.append(found)
    return out


def _paths(repo: Repository, commit: str, wanted: set[str]) -> dict[str, str]:
    """Path hash -> path, for the ``wanted`` hashes among the paths of ``commit``'s tree
    (none when the commit is not here or its tree cannot be read)."""
    found: dict[str, str] = {}
    oid = bytes.fromhex(commit)
    if not repo.store.has(oid):
        return found
    try:
        tree = repo.read_commit(oid).tree
        for n, (path, _entry) in enumerate(walk_tree(repo.store, tree)):
            if n >= MAX_PATHS_HASHED or len(found) == len(wanted):
                break
            name = os.fsdecode(path)
            digest = erased.path_hash(name)
            if digest in wanted:
                found[digest] = name
    except DvaultError:
        pass  # the verification below reports what cannot be read
    return found


def _verify_rest(repo: Repository, altered: Altered, gone: set[ObjectId], read_data: bool) -> None:
    """Everything of the revision but what was erased: every object present here (the
    commit and trees re-hashed as they are read), file contents re-hashed with
    ``read_data``."""
    oid = bytes.fromhex(altered.commit)
    if not repo.store.has(oid):
        return
    try:
        found = walk(repo.store.get_raw, repo.store.type_of, [oid], history=False, paths=False)
    except DvaultError as exc:
        altered.rest, altered.problems = "problems", [str(exc)]
        return
    for missing, path in found.missing.items():
        if missing in gone:
            altered.erased += 1
        else:
            altered.problems.append(f"object {missing.hex()[:12]} ({path}) is not in this clone")
    altered.checked = len(found.objects)
    if read_data:
        altered.rehashed = True
        for each, kind in found.objects.items():
            if kind == ObjectType.BLOB:
                try:
                    repo.store.get_raw(each)
                except DvaultError as exc:
                    altered.problems.append(str(exc))
    altered.rest = "problems" if altered.problems else "verified"
