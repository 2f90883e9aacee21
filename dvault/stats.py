"""Dataset statistics from the trees: files and bytes per tracked root and per first-level
folder (a class folder, in an image-classification layout), what changed between two
versions, and for small CSV/JSON label files the histogram of label values.

Counts come from the tree entries alone (every entry carries its size): no file content
is read for them. Label files are the exception, and bounded: at most
:data:`LABEL_FILES` per root, each at most :data:`LABEL_BYTES`, at most
:data:`LABEL_VALUES` distinct values kept. Their content comes from a commit and is
hostile: a file that does not parse is reported as skipped, with the reason, never an
error.
"""

from __future__ import annotations

import csv
import io
import json
import os
from collections import Counter
from dataclasses import dataclass, field

from dvault.errors import DvaultError
from dvault.objects import Commit, TreeEntry
from dvault.repository import Repository
from dvault.trees import diff_trees, lookup, walk

LABEL_BYTES = 1024 * 1024
"""Largest label file whose values are counted."""
LABEL_FILES = 20
"""Most label files read per root."""
LABEL_VALUES = 1000
"""Most distinct label values kept per file (the rest counted as ``other``)."""
LABEL_COLUMNS = ("label", "labels", "class", "category", "target")
"""A CSV column (or JSON key) with one of these names holds the label."""
TOP_LEVEL = "."
"""The folder name for files directly in the root."""


@dataclass
class Counts:
    files: int = 0
    bytes: int = 0

    def add(self, size: int) -> None:
        self.files += 1
        self.bytes += size


@dataclass
class Changes:
    added: int = 0
    deleted: int = 0
    modified: int = 0
    bytes_added: int = 0
    bytes_deleted: int = 0


@dataclass
class Labels:
    """One label file: its label histogram, and against the older version, how many
    items changed label and the most common transitions (old -> new)."""

    path: str
    histogram: dict[str, int] = field(default_factory=dict)
    skipped: str | None = None
    changed: int | None = None
    transitions: list[tuple[str, str, int]] = field(default_factory=list)

    def to_json(self) -> dict[str, object]:
        return {
            "path": self.path,
            "histogram": self.histogram,
            "skipped": self.skipped,
            "changed": self.changed,
            "transitions": [{"from": a, "to": b, "count": n} for a, b, n in self.transitions],
        }


@dataclass
class RootStats:
    root: str
    kind: str
    total: Counts = field(default_factory=Counts)
    folders: dict[str, Counts] = field(default_factory=dict)
    changes: Changes | None = None
    labels: list[Labels] = field(default_factory=list)

    def to_json(self) -> dict[str, object]:
        return {
            "root": self.root,
            "kind": self.kind,
            "files": self.total.files,
            "bytes": self.total.bytes,
            "folders": {k: vars(v) for k, v in sorted(self.folders.items())},
            "changes": vars(self.changes) if self.changes is not None else None,
            "labels": [lab.to_json() for lab in self.labels],
        }


@dataclass
class Stats:
    rev: str
    commit: str
    since: str | None
    since_commit: str | None
    roots: list[RootStats] = field(default_factory=list)

    def to_json(self) -> dict[str, object]:
        return {
            "rev": self.rev,
            "commit": self.commit,
            "since": self.since,
            "since_commit": self.since_commit,
            "roots": [r.to_json() for r in self.roots],
        }


def _root_tree(repo: Repository, commit: Commit, root: str) -> bytes | None:
    entry = lookup(repo.store, commit.tree, os.fsencode(root))
    return entry.id if entry is not None and entry.is_dir else None


def _is_label_file(path: bytes, entry: TreeEntry) -> bool:
    return not entry.is_dir and not entry.is_link and path.lower().endswith((b".csv", b".json"))


def compute(repo: Repository, rev: str, since: str | None = None, labels: bool = True) -> Stats:
    """Statistics of every root of ``rev``; with ``since``, what changed from it."""
    new_id = repo.resolve(rev)
    new = repo.read_commit(new_id)
    old_id = repo.resolve(since) if since is not None else None
    old = repo.read_commit(old_id) if old_id is not None else None
    result = Stats(rev, new_id.hex(), since, old_id.hex() if old_id is not None else None)
    for root, kind in sorted(new.roots.items()):
        stats = RootStats(root, kind)
        tree = _root_tree(repo, new, root)
        label_files: list[tuple[bytes, TreeEntry]] = []
        if tree is not None:
            for path, entry in walk(repo.store, tree):
                if entry.is_dir:
                    continue  # an empty folder holds no files
                head, sep, _ = path.partition(b"/")
                folder = os.fsdecode(head) if sep else TOP_LEVEL
                stats.total.add(entry.size)
                stats.folders.setdefault(folder, Counts()).add(entry.size)
                if labels and _is_label_file(path, entry):
                    label_files.append((path, entry))
        old_tree = _root_tree(repo, old, root) if old is not None else None
        if old is not None:
            stats.changes = _changes(repo, old_tree, tree)
        if labels:
            stats.labels = [
                _labels(repo, root, path, entry, old_tree)
                for path, entry in label_files[:LABEL_FILES]
            ]
        result.roots.append(stats)
    return result


def _changes(repo: Repository, old: bytes | None, new: bytes | None) -> Changes:
    changes = Changes()
    for change in diff_trees(repo.store, old, new):
        # files only: an empty folder that appeared or went is no file changed
        before = change.old if change.old is not None and not change.old.is_dir else None
        after = change.new if change.new is not None and not change.new.is_dir else None
        if before is None and after is None:
            continue
        if before is None:
            changes.added += 1
        elif after is None:
            changes.deleted += 1
        else:
            changes.modified += 1
        changes.bytes_added += after.size if after is not None else 0
        changes.bytes_deleted += before.size if before is not None else 0
    return changes


# -- label files ----------------------------------------------------------------------------


def _labels(
    repo: Repository, root: str, path: bytes, entry: TreeEntry, old_tree: bytes | None
) -> Labels:
    shown = f"{root}/{os.fsdecode(path)}"
    result = Labels(shown)
    new, why = _read_labels(repo, path, entry)
    if new is None:
        result.skipped = why
        return result
    result.histogram = _histogram(new)
    old_entry = lookup(repo.store, old_tree, path) if old_tree is not None else None
    if old_entry is not None and old_entry.id != entry.id:
        old, _ = _read_labels(repo, path, old_entry)
        if old is not None:
            moved = Counter(
                (old[key], value) for key, value in new.items() if key in old and old[key] != value
            )
            result.changed = sum(moved.values())
            result.transitions = [(a, b, n) for (a, b), n in moved.most_common(20)]
    elif old_entry is not None:
        result.changed = 0
    return result


def _histogram(items: dict[str, str]) -> dict[str, int]:
    counts = Counter(items.values())
    kept = dict(counts.most_common(LABEL_VALUES))
    rest = sum(counts.values()) - sum(kept.values())
    if rest:
        kept["other"] = kept.get("other", 0) + rest
    return dict(sorted(kept.items()))


def _read_labels(
    repo: Repository, path: bytes, entry: TreeEntry
) -> tuple[dict[str, str] | None, str]:
    """The labels of a label file as item -> label, or None and why it was skipped."""
    if entry.is_dir or entry.is_link:
        return None, "not a file"
    if entry.size > LABEL_BYTES:
        return None, f"larger than {LABEL_BYTES} bytes"
    try:
        # the size the tree claims is checked against the content before its first byte
        text = b"".join(repo.store.iter_file_content(entry.id, entry.size)).decode("utf-8")
    except UnicodeDecodeError:
        return None, "not UTF-8"
    except DvaultError as exc:  # a damaged or missing object: the rest of the stats stand
        return None, f"unreadable: {exc}"
    if path.lower().endswith(b".json"):
        return _json_labels(text)
    return _csv_labels(text)


def _csv_labels(text: str) -> tuple[dict[str, str] | None, str]:
    """A CSV with a header: the item is the first column, the label the column named like
    a label (:data:`LABEL_COLUMNS`), else the last column."""
    try:
        rows = list(csv.reader(io.StringIO(text)))
    except csv.Error as exc:
        return None, f"not CSV: {exc}"
    if len(rows) < 2 or len(rows[0]) < 2:
        return None, "not a CSV of items and labels (needs a header and two columns)"
    header = [h.strip().lower() for h in rows[0]]
    col = next((header.index(n) for n in LABEL_COLUMNS if n in header), len(header) - 1)
    labels: dict[str, str] = {}
    for number, row in enumerate(rows[1:], start=1):
        if not row:
            continue
        if len(row) <= col:
            return None, f"row {number} has no column {rows[0][col]!r}"
        labels[row[0] if col != 0 else str(number)] = row[col]
    return labels, ""


def _json_labels(text: str) -> tuple[dict[str, str] | None, str]:
    """``{"item": "label", ...}``, or a list of objects with a label key
    (:data:`LABEL_COLUMNS`) and optionally an ``id``/``file``/``image``/``path`` key."""
    try:
        data = json.loads(text)
    except (ValueError, RecursionError):
        return None, "not JSON"
    if isinstance(data, dict) and all(isinstance(v, str | int | bool) for v in data.values()):
        return {str(k): str(v) for k, v in data.items()}, ""
    if isinstance(data, list) and all(isinstance(o, dict) for o in data):
        labels: dict[str, str] = {}
        for number, obj in enumerate(data):
            key = next((n for n in LABEL_COLUMNS if n in obj), None)
            if key is None or not isinstance(obj[key], str | int | bool):
                return None, f"item {number} has no label ({', '.join(LABEL_COLUMNS)})"
            item = next((obj[n] for n in ("id", "file", "image", "path") if n in obj), number)
            labels[str(item)] = str(obj[key])
        return labels, ""
    return None, "not a JSON object of item -> label or a list of labelled items"
