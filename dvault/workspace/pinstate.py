"""Where the workspace stands against ``dvault.lock``: at the pinned commit, elsewhere
(git moved on while the data could not follow), or not checked out at all (a fresh git
clone). See :class:`dvault.pins.PinState` and docs/git.md, "When git and data disagree".
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from dvault.errors import DvaultError, UsageError
from dvault.gitlink import find_git_root
from dvault.hashing import ObjectId
from dvault.repository import Repository
from dvault.workspace.scan import in_scopes

if TYPE_CHECKING:
    from dvault.pins import PinState


def pin_state(repo: Repository) -> PinState | None:
    """The workspace against ``dvault.lock``; None outside git or without the file.

    When they differ, the paths whose uncommitted content a checkout of the pin would
    overwrite are listed (a Merkle diff from HEAD to the pin, then a look at just those
    paths on disk: it costs what that checkout's own check costs)."""
    if find_git_root(repo.root) is None:
        return None
    # deferred: start-up; outside git (no pin) status need not load the pin's TOML parser
    from dvault.pins import PinState, read

    _, head = repo.refs.head()
    here = head.hex() if head is not None else None
    try:
        pin = read(repo)
    except UsageError as exc:  # a merge left conflict markers in it, or it was edited
        return PinState(None, here, None, str(exc))
    if pin is None:
        return None
    if pin.commit == here:
        return PinState(pin.commit, here)
    return PinState(pin.commit, here, _in_the_way(repo, bytes.fromhex(pin.commit), head))


def _in_the_way(repo: Repository, pinned: bytes, head: ObjectId | None) -> tuple[str, ...] | None:
    """What ``dvault checkout --pin`` would refuse to overwrite; None if not known here."""
    if not repo.store.has(pinned):
        return None
    # deferred: start-up; every status asks for the pin state, and checkout's writers
    # (~35 ms of imports) are needed only when the workspace is not at the pin
    from dvault.workspace import checkout as co

    try:
        target = repo.read_commit(pinned)
        base = repo.read_commit(head).tree if head is not None else None
        changes = co.plan(repo, target.tree, None, False, base)
        sparse = repo.state.sparse()
        changes = [c for c in changes if in_scopes(c.path, sparse)]
        conflicts = co.find_conflicts(repo, changes, False)
    except DvaultError:  # part of the pinned data is not here: checkout --pin fetches it
        return None
    return tuple(os.fsdecode(p) for p in conflicts)
