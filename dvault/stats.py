"""Dataset statistics from the trees: files and bytes per tracked root and per folder
(first-level by default: the class folders of an image-classification layout), what
changed between two versions, and for small CSV/JSON label files the histogram of label
values.

Counts come from the tree entries alone (every entry carries its size): no file content
is read for them. Label files are the exception, and bounded: at most
:data:`LABEL_FILES` files and :data:`LABEL_TOTAL` bytes per root, each at most
:data:`LABEL_BYTES`, at most :data:`LABEL_VALUES` distinct values kept. A file of many
items (a CSV, a JSON mapping or list) is one histogram; files of one labelled object each
(``{"image": ..., "class": 3}`` per image) are one histogram per folder and extension,
``labels/*.json``, whose items are the files. Their content comes from a commit and is
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

from dvault.commitobjects import Commit
from dvault.errors import DvaultError, UsageError
from dvault.repository import Repository
from dvault.treeobjects import TreeEntry
from dvault.trees import diff_trees, lookup, walk

LABEL_BYTES = 1024 * 1024
"""Largest label file whose values are counted."""
LABEL_FILES = 10_000
"""Most label files read per root (the older version's copies count too)."""
LABEL_TOTAL = 32 * 1024 * 1024
"""Most bytes of label files read per root."""
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


MAX_DEPTH = 8
"""Deepest folder level counted on its own (``stats --depth``)."""


def compute(
    repo: Repository, rev: str, since: str | None = None, labels: bool = True, depth: int = 1
) -> Stats:
    """Statistics of every root of ``rev``; with ``since``, what changed from it. Files
    are counted per folder ``depth`` levels under the root (1: ``cat/``; 2:
    ``images/cat/``), a file higher up in the folder that holds it."""
    if not 1 <= depth <= MAX_DEPTH:
        raise UsageError(f"--depth must be 1 to {MAX_DEPTH}, not {depth}")
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
                parts = path.split(b"/")[:-1][:depth]
                folder = os.fsdecode(b"/".join(parts)) if parts else TOP_LEVEL
                stats.total.add(entry.size)
                stats.folders.setdefault(folder, Counts()).add(entry.size)
                if labels and _is_label_file(path, entry):
                    label_files.append((path, entry))
        old_tree = _root_tree(repo, old, root) if old is not None else None
        if old is not None:
            stats.changes = _changes(repo, old_tree, tree)
        if labels:
            stats.labels = _root_labels(repo, root, label_files, old_tree, old is not None)
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


@dataclass
class _Budget:
    """What a root may still read of label files."""

    files: int = LABEL_FILES
    bytes: int = LABEL_TOTAL
    refused: int = 0

    def take(self, entry: TreeEntry) -> bool:
        if self.files <= 0 or self.bytes < entry.size:
            self.refused += 1
            return False
        self.files -= 1
        self.bytes -= entry.size
        return True


@dataclass
class _Group:
    """Label files of one labelled object each, in one folder: one histogram."""

    new: dict[str, str] = field(default_factory=dict)
    old: dict[str, str] = field(default_factory=dict)


def _root_labels(
    repo: Repository,
    root: str,
    files: list[tuple[bytes, TreeEntry]],
    old_tree: bytes | None,
    compare: bool,
) -> list[Labels]:
    budget = _Budget()
    results: list[Labels] = []
    groups: dict[str, _Group] = {}
    for path, entry in files:
        shown = f"{root}/{os.fsdecode(path)}"
        if entry.size > LABEL_BYTES:
            results.append(Labels(shown, skipped=f"larger than {LABEL_BYTES} bytes"))
            continue
        if not budget.take(entry):
            continue
        new, single, why = _read_labels(repo, path, entry, shown)
        if new is None:
            if not single:  # one object without a label key is no label file: say nothing
                results.append(Labels(shown, skipped=why))
            continue
        old_entry = lookup(repo.store, old_tree, path) if old_tree is not None else None
        old: dict[str, str] | None = None
        if old_entry is not None and old_entry.id == entry.id:
            old = new
        elif old_entry is not None and budget.take(old_entry):
            old, _, _ = _read_labels(repo, path, old_entry, shown)
        if single:
            folder, _, name = shown.rpartition("/")
            group = groups.setdefault(f"{folder}/*{os.path.splitext(name)[1]}", _Group())
            group.new.update(new)
            group.old.update(old or {})
            continue
        result = Labels(shown, histogram=_histogram(new))
        if old is not None:
            result.changed, result.transitions = _moved(old, new)
        results.append(result)
    for name, group in sorted(groups.items()):
        result = Labels(name, histogram=_histogram(group.new))
        if compare:
            result.changed, result.transitions = _moved(group.old, group.new)
        results.append(result)
    if budget.refused:
        results.append(
            Labels(f"{root}/", skipped=f"{budget.refused} label file(s) not read: over the limit")
        )
    return results


def _moved(old: dict[str, str], new: dict[str, str]) -> tuple[int, list[tuple[str, str, int]]]:
    """How many items changed label, and the commonest changes (old, new, count)."""
    moved = Counter((old[k], v) for k, v in new.items() if k in old and old[k] != v)
    return sum(moved.values()), [(a, b, n) for (a, b), n in moved.most_common(20)]


def _histogram(items: dict[str, str]) -> dict[str, int]:
    counts = Counter(items.values())
    kept = dict(counts.most_common(LABEL_VALUES))
    rest = sum(counts.values()) - sum(kept.values())
    if rest:
        kept["other"] = kept.get("other", 0) + rest
    return dict(sorted(kept.items()))


def _read_labels(
    repo: Repository, path: bytes, entry: TreeEntry, shown: str
) -> tuple[dict[str, str] | None, bool, str]:
    """The labels of a label file as item -> label, whether it is a single labelled object
    (its item: ``shown``), or None and why it was skipped."""
    if entry.size > LABEL_BYTES:
        return None, False, f"larger than {LABEL_BYTES} bytes"
    try:
        # the size the tree claims is checked against the content before its first byte
        text = b"".join(repo.store.iter_file_content(entry.id, entry.size)).decode("utf-8")
    except UnicodeDecodeError:
        return None, False, "not UTF-8"
    except DvaultError as exc:  # a damaged or missing object: the rest of the stats stand
        return None, False, f"unreadable: {exc}"
    if path.lower().endswith(b".json"):
        return _json_labels(text, shown)
    labels, why = _csv_labels(text)
    return labels, False, why


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


Scalar = str | int | float | bool


def _json_labels(text: str, shown: str) -> tuple[dict[str, str] | None, bool, str]:
    """One labelled object (a label key of :data:`LABEL_COLUMNS` with a scalar value; its
    item is the file), ``{"item": "label", ...}``, or a list of labelled objects (the item
    their ``id``/``file``/``image``/``path``, else their position)."""
    try:
        data = json.loads(text)
    except (ValueError, RecursionError):
        return None, False, "not JSON"
    if isinstance(data, dict):
        key = next((n for n in LABEL_COLUMNS if n in data), None)
        if key is not None and isinstance(data[key], Scalar):
            return {shown: str(data[key])}, True, ""
        if data and all(isinstance(v, Scalar) for v in data.values()):
            return {str(k): str(v) for k, v in data.items()}, False, ""
        return None, True, "no label"
    if isinstance(data, list) and all(isinstance(o, dict) for o in data):
        labels: dict[str, str] = {}
        for number, obj in enumerate(data):
            key = next((n for n in LABEL_COLUMNS if n in obj), None)
            if key is None or not isinstance(obj[key], Scalar):
                return None, False, f"item {number} has no label ({', '.join(LABEL_COLUMNS)})"
            item = next((obj[n] for n in ("id", "file", "image", "path") if n in obj), number)
            labels[str(item)] = str(obj[key])
        return labels, False, ""
    return None, False, "not a JSON object of item -> label or a list of labelled items"
