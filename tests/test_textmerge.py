"""Line-level three-way merge of label files (merge3)."""

from __future__ import annotations

from dvault.trees.textmerge import is_line_based, merge_lines

BASE = b"file,label\n1.png,cat\n2.png,dog\n3.png,cat\n4.png,dog\n5.png,cat\n"


def test_different_rows_merge_cleanly() -> None:
    """Two relabels of rows apart from each other, plus an appended row: all three kept."""
    ours = BASE.replace(b"1.png,cat", b"1.png,lynx")
    theirs = BASE.replace(b"4.png,dog", b"4.png,wolf") + b"6.png,fox\n"
    merged = merge_lines(BASE, ours, theirs)
    assert (
        merged
        == BASE.replace(b"1.png,cat", b"1.png,lynx").replace(b"4.png,dog", b"4.png,wolf")
        + b"6.png,fox\n"
    )


def test_same_row_changed_differently_is_a_conflict() -> None:
    ours = BASE.replace(b"2.png,dog", b"2.png,wolf")
    theirs = BASE.replace(b"2.png,dog", b"2.png,fox")
    assert merge_lines(BASE, ours, theirs) is None


def test_same_change_on_both_sides_is_taken_once() -> None:
    ours = theirs = BASE.replace(b"2.png,dog", b"2.png,wolf")
    assert merge_lines(BASE, ours, theirs + b"7.png,owl\n") == ours + b"7.png,owl\n"


def test_line_endings_are_kept() -> None:
    """CRLF files stay CRLF, byte for byte."""
    base = BASE.replace(b"\n", b"\r\n")
    ours = base.replace(b"1.png,cat", b"1.png,lynx")
    theirs = base.replace(b"5.png,cat", b"5.png,puma")
    merged = merge_lines(base, ours, theirs)
    assert merged == base.replace(b"1.png,cat", b"1.png,lynx").replace(b"5.png,cat", b"5.png,puma")


def test_binary_content_is_never_line_merged() -> None:
    assert merge_lines(b"a\n\0b\n", b"A\n\0b\n", b"a\n\0B\n") is None


def test_which_names_are_line_based() -> None:
    for name in (b"labels.csv", b"a/b.TSV", b"x.jsonl", b"notes.txt"):
        assert is_line_based(name)
    for name in (b"model.pt", b"img.png", b"labels.csv.gz", b"json"):
        assert not is_line_based(name)
