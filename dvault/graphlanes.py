"""The lanes of ``dvault log --graph``: which column each commit sits in, and the ``*``
and ``|`` drawn left of its lines. (The log walk itself is an operation, above.)"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol


class _Parents(Protocol):
    @property
    def parents(self) -> Sequence[bytes]: ...


class Drawn(Protocol):
    """What a lane needs of a log entry: its commit id and its parents' ids."""

    @property
    def id(self) -> bytes: ...

    @property
    def commit(self) -> _Parents: ...


def graph_lines(entries: Sequence[Drawn]) -> list[tuple[str, str]]:
    """For each log entry, the graph prefix of its first line and of its other lines.

    Each lane is a line of descent waiting for a commit; a commit takes its lane (``*``),
    hands it to its first parent, and opens new lanes for further parents (merges).
    """
    lanes: list[bytes] = []
    out: list[tuple[str, str]] = []
    for entry in entries:
        if entry.id not in lanes:
            lanes.append(entry.id)
        col = lanes.index(entry.id)
        first = " ".join("*" if i == col else "|" for i in range(len(lanes)))
        parents = list(entry.commit.parents)
        after = lanes[:col] + parents[:1] + lanes[col + 1 :]
        for extra in parents[1:]:
            if extra not in after:
                after.insert(col + 1, extra)
        deduped: list[bytes] = []
        for lane in after:
            if lane not in deduped:
                deduped.append(lane)
        lanes = deduped
        rest = " ".join("|" for _ in lanes) if lanes else " "
        out.append((first + " ", rest + " "))
    return out
