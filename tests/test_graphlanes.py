"""The lanes of ``dvault log --graph`` (dvault/graphlanes.py)."""

from __future__ import annotations

from dataclasses import dataclass, field

from dvault.graphlanes import graph_lines


@dataclass
class FakeCommit:
    parents: tuple[bytes, ...]


@dataclass
class FakeEntry:
    id: bytes
    commit: FakeCommit = field(default_factory=lambda: FakeCommit(()))


def entry(oid: str, *parents: str) -> FakeEntry:
    return FakeEntry(oid.encode(), FakeCommit(tuple(p.encode() for p in parents)))


def test_empty_history() -> None:
    """No commits, no lines."""
    assert graph_lines([]) == []


def test_linear_history_is_one_lane() -> None:
    """A straight line of commits is a single column of stars joined by bars; the root
    commit has nothing below it."""
    entries = [entry("c", "b"), entry("b", "a"), entry("a")]
    assert graph_lines(entries) == [("* ", "| "), ("* ", "| "), ("* ", "  ")]


def test_merge_opens_and_closes_a_lane() -> None:
    """A merge opens a second lane for its second parent; the lanes join at the fork point."""
    #   m        merge of a and b
    #   |\
    #   a |
    #   | b
    #   |/
    #   root
    entries = [entry("m", "a", "b"), entry("a", "root"), entry("b", "root"), entry("root")]
    assert graph_lines(entries) == [
        ("* ", "| | "),
        ("* | ", "| | "),
        ("| * ", "| "),
        ("* ", "  "),
    ]


def test_every_line_has_exactly_one_commit_marker() -> None:
    """Each commit's first line has one ``*``, and continuation lines have none."""
    entries = [
        entry("m2", "m1", "x"),
        entry("x", "a"),
        entry("m1", "a", "b"),
        entry("b", "root"),
        entry("a", "root"),
        entry("root"),
    ]
    lines = graph_lines(entries)
    assert len(lines) == len(entries)
    for first, rest in lines:
        assert first.count("*") == 1
        assert "*" not in rest


def test_lane_count_follows_open_lines_of_descent() -> None:
    """Two merged side branches need three lanes while all three lines are open."""
    entries = [
        entry("m", "a", "b", "c"),  # an octopus merge
        entry("a", "root"),
        entry("b", "root"),
        entry("c", "root"),
        entry("root"),
    ]
    lines = graph_lines(entries)
    assert lines[0] == ("* ", "| | | ")
    assert lines[1][0] == "* | | "
    assert lines[-1] == ("* ", "  ")


def test_branch_tips_not_yet_seen_get_their_own_lane() -> None:
    """Log of two unrelated tips: a commit not expected by any lane opens a new one."""
    entries = [entry("t1", "base"), entry("t2", "base"), entry("base")]
    lines = graph_lines(entries)
    assert lines[0] == ("* ", "| ")
    assert lines[1][0] == "| * "
    assert lines[2] == ("* ", "  ")
