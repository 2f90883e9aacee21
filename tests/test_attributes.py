"""``.dvaultattributes`` (dvault/attributes.py) and the union line merge
(dvault/trees/unionmerge.py)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from dvault.attributes import MAX_SIZE, Attributes, load, parse
from dvault.errors import UsageError
from dvault.trees.unionmerge import union_lines


def test_patterns_match_as_git_attributes_do() -> None:
    """No slash: the file name at any depth; a slash: from the root; * within one
    directory, ** across; a trailing slash: everything below; the last rule wins."""
    rules = parse(
        b"# strategies\n"
        b"*.log union\n"
        b"data/labels/*.csv   text\n"
        b"/models/ ours\n"
        b"data/**/raw.bin theirs\n"
        b"\n"
        b"data/labels/frozen.csv binary\n"
    )
    assert rules.strategy(b"train.log") == "union"
    assert rules.strategy(b"runs/a/b/train.log") == "union"
    assert rules.strategy(b"data/labels/a.csv") == "text"
    assert rules.strategy(b"data/labels/sub/a.csv") is None  # * stays in one directory
    assert rules.strategy(b"data/labels/frozen.csv") == "binary"  # the last rule wins
    assert rules.strategy(b"models/ckpt/latest.bin") == "ours"
    assert rules.strategy(b"x/models/ckpt.bin") is None  # anchored at the root
    assert rules.strategy(b"data/raw.bin") == "theirs"
    assert rules.strategy(b"data/a/b/raw.bin") == "theirs"
    assert rules.strategy(b"data/labels.csv") is None
    assert Attributes().strategy(b"a.csv") is None


def test_special_characters_are_literal() -> None:
    """Regular-expression characters in a pattern match only themselves."""
    rules = parse(b"a+(b).csv ours\n")
    assert rules.strategy(b"a+(b).csv") == "ours"
    assert rules.strategy(b"aa(b)xcsv") is None


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"*.csv\n", "line 1: expected PATTERN STRATEGY"),
        (b"# ok\n*.csv text extra\n", "line 2: expected PATTERN STRATEGY"),
        (b"*.csv merge\n", "unknown strategy 'merge'"),
        (b"*.csv \x1b[31mours\n", "control character"),
        (b"\xff\xfe ours\n", "not UTF-8"),
        (b"/ ours\n", "matches nothing usable"),
        (b"!a.csv ours\n", "matches nothing usable"),
        (b"*a*b*c*d*e*f*g*h*i ours\n", "wildcards"),
        (("x" * 2000 + " ours\n").encode(), "longer than"),
        (b"a ours\n" * 1001, "more than 1000 rules"),
        (b"#" * (MAX_SIZE + 1), "larger than"),
    ],
)
def test_bad_files_are_refused_with_one_clear_line(data: bytes, message: str) -> None:
    """A committed file is hostile input: each bad line names the file and line."""
    with pytest.raises(UsageError) as info:
        parse(data)
    assert message in str(info.value)
    assert "\n" not in str(info.value) and "\x1b" not in str(info.value)


def test_load_reads_the_project_root_and_refuses_links(tmp_path: Path) -> None:
    """No file: no rules; a symbolic link (maybe to a file outside) is not followed."""
    assert load(tmp_path).rules == ()
    (tmp_path / ".dvaultattributes").write_bytes(b"*.log union\n")
    assert load(tmp_path).strategy(b"x.log") == "union"
    (tmp_path / "elsewhere").write_bytes(b"*.log ours\n")
    (tmp_path / ".dvaultattributes").unlink()
    os.symlink(tmp_path / "elsewhere", tmp_path / ".dvaultattributes")
    with pytest.raises(UsageError, match="symbolic link"):
        load(tmp_path)


def test_union_keeps_both_sides_appended_lines() -> None:
    """Both sides appended to a log: ours then theirs, nothing dropped; what both added
    first is kept once; a binary side is not merged."""
    base = b"start\n"
    assert union_lines(base, base + b"ours 1\n", base + b"theirs 1\n") == (
        b"start\nours 1\ntheirs 1\n"
    )
    assert union_lines(base, base + b"same\nours\n", base + b"same\n") == b"start\nsame\nours\n"
    assert union_lines(b"a", b"ab", b"ac") == b"ab\nac"
    assert union_lines(base, base + b"\0", base + b"x\n") is None
