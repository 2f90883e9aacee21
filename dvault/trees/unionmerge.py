"""The ``union`` line merge of append-only files (logs): where both sides changed the
same place, keep both sides' lines, ours then theirs, instead of calling it a conflict.
The diff3 is the ``merge3`` package, as for ``trees/textmerge.py``."""

from __future__ import annotations

from dvault.trees.textmerge import line_merge


def union_lines(base: bytes, ours: bytes, theirs: bytes) -> bytes | None:
    """Three-way line merge keeping both sides where they collide, as git's ``union``:
    no line dropped, a run of lines both sides added first kept once. None when any
    version is binary (holds a NUL byte). A last line without a newline gets one before
    the other side's lines."""
    merge = line_merge(base, ours, theirs)
    if merge is None:
        return None
    result: list[bytes] = []
    for group in merge.merge_groups():
        if group[0] != "conflict":
            result.extend(group[1])
            continue
        ours_lines, theirs_lines = list(group[2]), list(group[3])
        same = 0  # lines both sides added first are one change, kept once
        while same < min(len(ours_lines), len(theirs_lines)) and (
            ours_lines[same] == theirs_lines[same]
        ):
            same += 1
        result.extend(ours_lines[:same])
        ours_lines, theirs_lines = ours_lines[same:], theirs_lines[same:]
        if ours_lines and theirs_lines and not ours_lines[-1].endswith(b"\n"):
            ours_lines[-1] += b"\n"
        result.extend(ours_lines)
        result.extend(theirs_lines)
    return b"".join(result)


__all__ = ["union_lines"]
