"""The inputs ``dvault run`` declares, checked against what the work tree holds.

``--input data/labels@v1`` is a claim: the command read v1's labels. The claim is only
true if the work tree held exactly v1's ``data/labels`` when the command started, so
``run`` compares them before anything runs (:func:`check_inputs`) and refuses a mismatch
— another version checked out, or changes not committed — unless ``--allow-dirty``,
with which it records the mismatch. Either way each input record says what was present:
``present`` maps every compared path to the id the work tree held there (None: absent),
and ``clean`` says whether that is what the declared revision holds (docs/lineage.md);
an input the command itself changed is recorded as such (:func:`recheck_inputs`).
An input naming a whole revision (``--input v1``) compares each of that revision's
tracked roots except those the run writes.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from dvault.errors import UncommittedChanges
from dvault.hashing import ObjectId, from_hex
from dvault.ops.commits import resolve_inputs
from dvault.repository import Repository
from dvault.trees import lookup
from dvault.workspace.present import present_id


class InputNotPresent(UncommittedChanges):
    """A declared input is not what the work tree holds (exit 1; nothing ran)."""


@dataclass(frozen=True)
class Mismatch:
    spec: str
    path: str
    rev: str
    why: str


def _overlaps(a: str, b: str) -> bool:
    return a == b or a.startswith(b + "/") or b.startswith(a + "/")


def check_inputs(
    repo: Repository, specs: list[str], outputs: list[str], allow_dirty: bool
) -> list[dict[str, Any]]:
    """The input records for ``specs`` (:func:`dvault.ops.commits.resolve_inputs`) with
    ``present`` and ``clean`` added; raises :class:`InputNotPresent` on the first
    mismatch unless ``allow_dirty``."""
    records = resolve_inputs(repo, specs)
    _, head = repo.refs.head()
    head_tree = repo.read_commit(head).tree if head is not None else None
    mismatches = []
    for spec, record in zip(specs, records, strict=True):
        commit_id = from_hex(record["commit"])
        declared: dict[str, ObjectId | None] = {}
        if record.get("path"):
            declared[record["path"]] = from_hex(record["id"])
        else:
            commit = repo.read_commit(commit_id)
            for root in sorted(commit.roots):
                if not any(_overlaps(root, o) for o in outputs):
                    entry = lookup(repo.store, commit.tree, os.fsencode(root))
                    declared[root] = entry.id if entry is not None else None
        present = {path: present_id(repo, os.fsencode(path)) for path in declared}
        record["present"] = {p: (i.hex() if i is not None else None) for p, i in present.items()}
        record["clean"] = present == declared
        for path, wanted in declared.items():
            if present[path] != wanted:
                why = _why(repo, head_tree, path, present[path])
                mismatches.append(Mismatch(spec, path, record["rev"], why))
    if mismatches and not allow_dirty:
        first = mismatches[0]
        more = f" (and {len(mismatches) - 1} more)" if len(mismatches) > 1 else ""
        raise InputNotPresent(
            f"input {first.spec}: the work tree's {first.path} is not {first.rev}'s: "
            f"{first.why}{more}; nothing run: check it out with `dvault checkout "
            f"{first.rev} -- {first.path}`, or pass --allow-dirty to record what is there"
        )
    return records


def _why(repo: Repository, head_tree: ObjectId | None, path: str, present: ObjectId | None) -> str:
    """How the work tree's ``path`` differs from the declared revision's, in words."""
    if present is None:
        return "it is missing"
    entry = lookup(repo.store, head_tree, os.fsencode(path)) if head_tree is not None else None
    if entry is not None and entry.id == present:
        return "it holds the version checked out (HEAD)"
    return "it has changes not committed"


def recheck_inputs(repo: Repository, records: list[dict[str, Any]], outputs: list[str]) -> None:
    """After the command: an input it changed while it ran (and does not write as an
    output) was not a fixed input; its record gets ``changed_during_run`` and is no
    longer ``clean``, so no rerun claims to re-create it."""
    for record in records:
        for path, before in record["present"].items():
            if any(_overlaps(path, o) for o in outputs):
                continue
            now = present_id(repo, os.fsencode(path))
            if (now.hex() if now is not None else None) != before:
                record["changed_during_run"] = True
                record["clean"] = False
