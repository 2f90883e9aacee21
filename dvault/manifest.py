"""A per-file manifest of one data version: every file of every root with its size and
content id, for the technical file of an audit (``dvault review --manifest FILE``).

What the id is. ``content_id`` is the id dvault stores for the file, read from the tree
(no file content is read, so a manifest of a terabyte costs what walking its trees
costs):

* a file of at most 1 MiB (:data:`~dvault.chunking.CHUNK_THRESHOLD`) is one blob: its id
  is ``blake3(b"blob <size>\\0" + content)`` (``object`` = ``blob``), which anyone can
  recompute from the bytes alone (``docs/lineage.md`` shows how);
* a larger file is cut into content-defined chunks: its id is the blake3 of its chunk
  list (``object`` = ``chunks``), which ``dvault`` verifies (``dvault verify``) but a
  plain ``b3sum`` cannot reproduce;
* a symbolic link's id is the blob of its target; an empty directory has the empty
  tree's id.

The plain blake3 of every large file would mean reading every byte back from the store:
not cheap, so it is not computed here.

Hostile by default: paths come from trees (a commit from a remote is attacker input), so
a name may hold commas, quotes, newlines or start a spreadsheet formula. The CSV is RFC
4180 (every field that needs it quoted, CRLF line ends) and a text cell starting with
``= + - @`` or a tab or CR gets a leading ``'`` so a spreadsheet shows it instead of
evaluating it; the JSON carries every value exactly. A name that is not UTF-8 is written
with ``\\xNN`` escapes in both.

The file is written atomically (a temporary sibling, then a rename), so a reader never
sees half a manifest, and never inside a data root: a manifest written there would
become data of the next commit.
"""

from __future__ import annotations

import contextlib
import csv
import datetime
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from dvault.errors import UsageError
from dvault.fsutil import fsync_dir, os_error, temp_name
from dvault.hashing import ObjectType
from dvault.openlineage import dvault_version
from dvault.repository import Repository
from dvault.treeobjects import MODE_EXEC, MODE_LINK
from dvault.trees.nodes import expand, lookup

FORMATS = (".csv", ".json")
COLUMNS = (
    "dvault_commit",
    "git_commit",
    "root",
    "kind",
    "path",
    "type",
    "size",
    "content_id",
    "object",
)
"""The CSV header, in order (the JSON rows have the same keys but the two commits, which
are in its header)."""

_FORMULA = ("=", "+", "-", "@", "\t", "\r")


@dataclass(frozen=True)
class Row:
    root: str
    kind: str
    path: str
    type: str  # file | executable | symlink | empty-dir
    size: int
    content_id: str
    object: str  # blob | chunks | tree | missing

    def to_json(self) -> dict[str, str | int]:
        return {
            "root": self.root,
            "kind": self.kind,
            "path": self.path,
            "type": self.type,
            "size": self.size,
            "content_id": self.content_id,
            "object": self.object,
        }


def _text(name: bytes) -> str:
    """A path from a tree as text: a byte that is not UTF-8 becomes ``\\xNN``."""
    return name.decode("utf-8", errors="backslashreplace")


def _clean(text: str) -> str:
    """A string from a commit that UTF-8 can always encode (a lone surrogate escaped)."""
    return text.encode("utf-8", errors="backslashreplace").decode("utf-8")


def rows(repo: Repository, commit_id: bytes) -> Iterator[Row]:
    """Every leaf of every root of the commit, roots and paths in byte order, from the
    trees only (``trees.nodes.expand``: the same walk ``ls``, ``checkout`` and ``stats``
    use). A damaged or missing tree raises its one-line error."""
    commit = repo.read_commit(commit_id)
    for root in sorted(commit.roots, key=os.fsencode):
        kind, shown = _clean(str(commit.roots[root])), _clean(root)
        top = lookup(repo.store, commit.tree, os.fsencode(root))
        if top is None:
            continue
        for path, entry in expand(repo.store, os.fsencode(root), top):
            if entry.is_dir:
                kind_of, obj = "empty-dir", "tree"
            else:
                kind_of = {MODE_LINK: "symlink", MODE_EXEC: "executable"}.get(entry.mode, "file")
                found = repo.store.type_of(entry.id)
                obj = "chunks" if found == ObjectType.CHUNKS else "blob" if found else "missing"
            yield Row(shown, kind, _text(path), kind_of, entry.size, entry.id.hex(), obj)


def _cell(value: str) -> str:
    """A text cell a spreadsheet will not evaluate (OWASP's CSV injection advice)."""
    return "'" + value if value.startswith(_FORMULA) else value


def _write_csv(out: IO[str], found: Iterator[Row], dvault_commit: str, git_commit: str) -> int:
    writer = csv.writer(out, lineterminator="\r\n", quoting=csv.QUOTE_MINIMAL)
    writer.writerow(COLUMNS)
    count = 0
    for row in found:
        writer.writerow(
            [
                dvault_commit,
                git_commit,
                _cell(row.root),
                row.kind,
                _cell(row.path),
                row.type,
                row.size,
                row.content_id,
                row.object,
            ]
        )
        count += 1
    return count


def _write_json(out: IO[str], found: Iterator[Row], header: dict[str, str | None]) -> int:
    """One JSON document, written a row at a time (the rows are never all in memory)."""
    out.write("{\n")
    for key, value in header.items():
        out.write(f"  {json.dumps(key)}: {json.dumps(value)},\n")
    out.write('  "files": [')
    count = 0
    for row in found:
        out.write(",\n    " if count else "\n    ")
        out.write(json.dumps(row.to_json(), ensure_ascii=False))
        count += 1
    out.write("\n  ]\n}\n" if count else "]\n}\n")
    return count


def check_destination(
    repo: Repository, dest: Path, roots: set[str] | None = None
) -> tuple[Path, str]:
    """The real path to write and its format, or a one-line :class:`UsageError`: the name
    ends in .csv or .json, its folder exists, it is not a directory, and it is not inside
    a tracked data root (the work tree's or ``roots``), ``.dvault`` or ``.git``."""
    text = str(dest)
    if text == "-":
        raise UsageError("--manifest needs a file name: the report itself goes to stdout")
    suffix = dest.suffix.lower()
    if suffix not in FORMATS:
        raise UsageError(f"--manifest {text}: the name must end in .csv or .json")
    parent = Path(os.path.realpath(dest.parent))
    if not parent.is_dir():
        raise UsageError(f"--manifest {text}: folder {dest.parent} does not exist")
    full = parent / dest.name
    if full.is_dir():
        raise UsageError(f"--manifest {text} is a directory")
    try:
        rel = full.relative_to(Path(os.path.realpath(repo.root)))
    except ValueError:
        return full, suffix[1:]  # outside the project
    tracked = set(repo.roots()) | (roots or set())
    inside = next((r for r in sorted(tracked) if rel == Path(r) or Path(r) in rel.parents), None)
    if rel.parts and rel.parts[0] in (".dvault", ".git"):
        inside = rel.parts[0]
    if inside is not None:
        raise UsageError(
            f"--manifest {text} is inside {inside}: write it outside the data roots, "
            "or it would become data of the next commit"
        )
    return full, suffix[1:]


def write(
    repo: Repository,
    commit_id: bytes,
    dest: Path,
    fmt: str,
    git_commit: str | None = None,
) -> int:
    """Write the manifest of ``commit_id`` to ``dest`` (checked by
    :func:`check_destination`) atomically; returns the number of files listed. Nothing
    is left behind when it fails."""
    dvault_commit = commit_id.hex()
    found = rows(repo, commit_id)
    tmp = temp_name(dest)
    try:
        with open(tmp, "x", encoding="utf-8", newline="") as f:
            if fmt == "csv":
                count = _write_csv(f, found, dvault_commit, git_commit or "")
            else:
                header: dict[str, str | None] = {
                    "format": "dvault-manifest/1",
                    "dvault_commit": dvault_commit,
                    "git_commit": git_commit,
                    "generated": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
                    "tool": f"dvault {dvault_version()}",
                    "content_id": "dvault object id: blake3 of 'blob <size>\\0' + content "
                    "(object blob), or of the chunk list (object chunks)",
                }
                count = _write_json(f, found, header)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, dest)
        fsync_dir(dest.parent)
    except BaseException as exc:  # a damaged tree, a full disk, ^C: leave nothing behind
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        if isinstance(exc, OSError):
            raise os_error(exc, "write", dest) from None
        raise
    return count


def write_pinned(
    repo: Repository, commit_hex: str, roots: set[str], git_commit: str, dest: Path
) -> int:
    """``review --manifest``: the manifest of the commit a git revision pins (``roots``:
    the pinned roots, where it may not be written either). A pinned commit not in the
    local store cannot be listed (one line: fetch it)."""
    commit = bytes.fromhex(commit_hex)
    if not repo.store.has(commit):
        raise UsageError(
            f"--manifest: the pinned commit {commit_hex[:12]} is not in the local store "
            "(dvault fetch)"
        )
    full, fmt = check_destination(repo, dest, roots)
    return write(repo, commit, full, fmt, git_commit)
