"""Line-level three-way merge of text label files (CSV, TSV, JSON Lines, plain text).

Two people relabelling different rows of one ``labels.csv`` change different lines: a
line merge combines them, where a whole-file merge would call it a conflict. The diff3
itself is the ``merge3`` package (the merge algorithm of bzr and breezy, maintained by
the Breezy team), not one written here. Only files whose name says they are line-based
text, under :data:`TEXT_MERGE_LIMIT`, and without NUL bytes are merged this way;
anything else both sides changed stays a conflict.
"""

from __future__ import annotations

from merge3 import Merge3

TEXT_SUFFIXES = (b".csv", b".tsv", b".jsonl", b".txt")
"""Names of the label files merged line by line."""

TEXT_MERGE_LIMIT = 64 << 20
"""Largest file (each of base, ours, theirs) merged line by line: the three versions and
their line lists are held in memory; a larger one stays a conflict."""


def line_merge(base: bytes, ours: bytes, theirs: bytes) -> Merge3[bytes] | None:
    """The diff3 of the three versions' lines (each keeping its ending), or None when any
    of them is binary (holds a NUL byte): the one place the merge3 package is driven."""
    if b"\0" in base or b"\0" in ours or b"\0" in theirs:
        return None
    return Merge3(
        base.splitlines(keepends=True),
        ours.splitlines(keepends=True),
        theirs.splitlines(keepends=True),
    )


def is_line_based(path: bytes) -> bool:
    """Whether ``path`` names a label file merged line by line (by its suffix)."""
    return path.lower().endswith(TEXT_SUFFIXES)


def merge_lines(base: bytes, ours: bytes, theirs: bytes) -> bytes | None:
    """The three-way line merge of ``ours`` and ``theirs`` against ``base``, or None when
    the two sides change the same lines differently (or any of them is binary). Lines
    keep their endings, so the merged bytes are exactly each side's lines."""
    merge = line_merge(base, ours, theirs)
    if merge is None:
        return None
    result: list[bytes] = []
    for region in merge.merge_regions():
        what = region[0]
        if what == "conflict":
            return None
        if what in ("unchanged", "same", "a"):
            start, end = (region[1], region[2])
            side = merge.base if what == "unchanged" else merge.a
            result.extend(side[start:end])
        else:  # "b": only theirs changed these lines
            result.extend(merge.b[region[1] : region[2]])
    return b"".join(result)


def with_markers(base: bytes, ours: bytes, theirs: bytes) -> bytes | None:
    """The line merge with git-style conflict blocks (``<<<<<<< ours``, ``=======``,
    ``>>>>>>> theirs``) where the sides disagree; None for binary content."""
    merge = line_merge(base, ours, theirs)
    if merge is None:
        return None
    lines = list(
        merge.merge_lines(
            name_a=b"ours",
            name_b=b"theirs",
            start_marker=b"<<<<<<<",
            mid_marker=b"=======",
            end_marker=b">>>>>>>",
        )
    )
    return b"".join(lines)


__all__ = ["TEXT_MERGE_LIMIT", "TEXT_SUFFIXES", "is_line_based", "merge_lines", "with_markers"]
