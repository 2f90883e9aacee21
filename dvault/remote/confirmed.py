"""What this clone *knows* a remote holds intact — as opposed to what the remote claims.

Anyone who can append to a remote's ref log can name any commit id (``dvault.lock``
publishes them), and anyone who can create a pack can list any object id in its footer.
Push therefore never takes the remote's word that data is there: it skips an object only
when this clone confirmed it on that remote itself (as restic trusts only the index it
wrote and the packs it read), and keeps what it confirmed here, per remote, in
``.dvault/remotes/<name>/confirmed.json``:

* ``packs``: remote packs this clone uploaded (a create-only write that succeeded, its
  size and, on S3, its SHA-256 checked by the store) or read whole and verified (every
  object re-hashed; a version 2 pack's name is the digest of every byte);
* ``mirrors``: local packs whose every object this clone read from the remote and
  verified (what a fetch stored from range reads);
* ``commits``: commits whose whole closure, history included, was confirmed there (the
  tips of pushes and of full clones), so a push walks only what is new since.

Packs never change on a remote (create-only; a replaced S3 key is read at its first
version), but an administrator may delete them (``prune``): when a pack listed at the
last confirmation is gone, everything here is forgotten and confirmed again as needed.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dvault.fsutil import temp_name

FILE = "confirmed.json"
MAX_COMMITS = 64
"""Confirmed tips kept: the newest; their ancestors are implied."""
_HEX = re.compile(r"[0-9a-f]{64}")


@dataclass
class Confirmed:
    path: Path
    seen: dict[str, int] = field(default_factory=dict)  # remote packs listed at the last save
    packs: set[str] = field(default_factory=set)
    mirrors: set[str] = field(default_factory=set)
    commits: list[str] = field(default_factory=list)

    @classmethod
    def load(cls, remote_dir: Path) -> Confirmed:
        """This clone's confirmations for one remote (none when the file is missing or
        unreadable: it is a cache, so a damaged one only costs a re-confirmation)."""
        path = remote_dir / FILE
        found = cls(path)
        try:
            value: Any = json.loads(path.read_bytes())
            seen = {str(k): int(v) for k, v in dict(value["seen"]).items()}
            packs = {str(p) for p in value["packs"]}
            mirrors = {str(p) for p in value["mirrors"]}
            commits = [str(c) for c in value["commits"]]
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            return found
        names = [*seen, *packs, *mirrors, *commits]
        if all(_HEX.fullmatch(n) for n in names):
            found.seen, found.packs, found.mirrors, found.commits = seen, packs, mirrors, commits
        return found

    def validate(self, listed: dict[str, int]) -> None:
        """Forget everything when a pack listed at the last confirmation is gone or has
        another size now (deleted by an administrator): what rested on it is unknown."""
        if any(listed.get(name) != size for name, size in self.seen.items()):
            self.seen, self.packs, self.mirrors, self.commits = {}, set(), set(), []

    def drop_planned(self, planned: set[str]) -> None:
        """Treat the packs an open prune plan names as absent (dvault.remote.prune): what
        they hold is uploaded again rather than counted on, and confirmed tips whose
        closure may rest on them are forgotten."""
        if planned & (self.packs | set(self.seen)):
            self.packs -= planned
            self.commits = []

    def save(self, listed: dict[str, int]) -> None:
        """Replace the file atomically, without an fsync: it is a cache, and one lost or
        torn by a crash reads as empty (everything is confirmed again as needed), while
        two fsyncs would cost an incremental push ~10%."""
        self.seen = dict(listed)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        value = {
            "version": 1,
            "seen": dict(sorted(self.seen.items())),
            "packs": sorted(self.packs),
            "mirrors": sorted(self.mirrors),
            "commits": self.commits[-MAX_COMMITS:],
        }
        tmp = temp_name(self.path)
        try:
            tmp.write_bytes(json.dumps(value, indent=0).encode())
            os.replace(tmp, self.path)
        except OSError:  # a cache that cannot be written costs a re-confirmation only
            with contextlib.suppress(OSError):
                tmp.unlink()

    def add_commits(self, tips: list[str]) -> None:
        self.commits = [c for c in self.commits if c not in tips] + list(tips)
        self.commits = self.commits[-MAX_COMMITS:]

    def commit_ids(self) -> list[bytes]:
        return [bytes.fromhex(c) for c in self.commits]
