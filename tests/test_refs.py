"""Refs: atomic branch updates, an ordered reflog, immutable tags, safe names, HEAD."""

from __future__ import annotations

from pathlib import Path

import pytest

from dvault.errors import CorruptObject, InvalidName, RefExists, UsageError
from dvault.hashing import ObjectId, ObjectType, object_id
from dvault.refs import HEADS, TAGS, RefStore, check_ref_name


def oid(n: int) -> ObjectId:
    return object_id(ObjectType.COMMIT, str(n).encode())


@pytest.fixture
def refs(tmp_path: Path) -> RefStore:
    """A ref store laid out as Repo.init does, HEAD on an unborn ``main``."""
    root = tmp_path / "dv"
    for sub in ("refs/heads", "refs/tags", "logs"):
        (root / sub).mkdir(parents=True)
    (root / "HEAD").write_text("ref: refs/heads/main\n")
    return RefStore(root)


def test_update_and_read(refs: RefStore) -> None:
    """A branch reads back what it was last set to; an unknown ref reads as None."""
    assert refs.read(HEADS + "main") is None
    refs.update(HEADS + "main", oid(1), "commit: one")
    assert refs.read(HEADS + "main") == oid(1)
    refs.update(HEADS + "main", oid(2), "commit: two")
    assert refs.read(HEADS + "main") == oid(2)
    assert (refs.root / "refs/heads/main").read_text() == oid(2).hex() + "\n"
    assert refs.branches() == {"main": oid(2)}


def test_update_leaves_no_temp_files(refs: RefStore) -> None:
    """Atomic updates clean up after themselves (nothing for branches() to trip over)."""
    for i in range(5):
        refs.update(HEADS + "feature/x", oid(i), "move")
    assert [p.name for p in (refs.root / "refs/heads/feature").iterdir()] == ["x"]
    assert refs.branches() == {"feature/x": oid(4)}


def test_reflog_records_moves_in_order(refs: RefStore) -> None:
    """Every move is logged oldest first with its old and new ids and message."""
    refs.update(HEADS + "main", oid(1), "commit: one")
    refs.update(HEADS + "main", oid(2), "commit: two\nsecond line")
    refs.update(HEADS + "main", oid(3), "reset")
    log = refs.reflog(HEADS + "main")
    assert [(e.old, e.new) for e in log] == [(None, oid(1)), (oid(1), oid(2)), (oid(2), oid(3))]
    assert [e.message for e in log] == ["commit: one", "commit: two second line", "reset"]
    assert [e.time_ns for e in log] == sorted(e.time_ns for e in log)
    assert all(e.user and " " not in e.user for e in log)


def test_torn_reflog_line_is_ignored(refs: RefStore) -> None:
    """A crash mid-append leaves a partial last line, which readers skip."""
    refs.update(HEADS + "main", oid(1), "one")
    refs.update(HEADS + "main", oid(2), "two")
    path = refs.root / "logs" / HEADS / "main"
    full = path.read_bytes()
    last_start = full.rstrip(b"\n").rfind(b"\n") + 1
    for cut in (last_start + 5, last_start + 64, last_start + 100):
        path.write_bytes(full[:cut])
        assert [(e.old, e.new) for e in refs.reflog(HEADS + "main")] == [(None, oid(1))]
    path.write_bytes(full + b"\xff\xfe garbage")
    assert len(refs.reflog(HEADS + "main")) == 2
    assert refs.reflog("refs/heads/never") == []


def test_head_attached_and_detached(refs: RefStore) -> None:
    """HEAD names a branch (advanced by commits) or a commit (detached)."""
    assert refs.head() == ("main", None)
    refs.update_head_target(oid(1), "commit: first")
    assert refs.head() == ("main", oid(1))
    assert refs.read(HEADS + "main") == oid(1)

    refs.set_head(None, oid(1), "checkout: detach")
    assert refs.head() == (None, oid(1))
    refs.update_head_target(oid(2), "commit: detached work")
    assert refs.head() == (None, oid(2))
    assert refs.read(HEADS + "main") == oid(1)  # the branch did not move

    refs.set_head("main", oid(1), "checkout: main")
    assert refs.head() == ("main", oid(1))
    assert [e.new for e in refs.reflog("HEAD")] == [oid(1), oid(1), oid(2), oid(1)]


def test_head_refuses_bad_branch_name(refs: RefStore) -> None:
    """Switching HEAD to an invalid branch name changes nothing."""
    with pytest.raises(InvalidName):
        refs.set_head("../../etc", None, "x")
    assert refs.head() == ("main", None)


@pytest.mark.parametrize(
    "text",
    [
        "ref: refs/tags/v1\n",
        "ref: ../../etc/passwd\n",
        "ref: refs/heads/../../../outside\n",
        "ref: refs/heads/\n",
        "not an id\n",
        "ab" * 31 + "\n",
        "",
    ],
)
def test_damaged_head_is_corrupt(refs: RefStore, text: str) -> None:
    """A HEAD that is neither a branch ref nor a full id is reported as damage (and a
    tampered HEAD can never make a commit write a ref outside ``refs/heads``)."""
    outside = refs.root.parent / "outside"
    outside.write_text(oid(9).hex() + "\n")
    (refs.root / "HEAD").write_text(text)
    with pytest.raises(CorruptObject):
        refs.head()


def test_tags_are_create_only(refs: RefStore) -> None:
    """A tag never moves, not even to the id it already has."""
    refs.create_tag("v1.0", oid(1))
    assert refs.read(TAGS + "v1.0") == oid(1)
    with pytest.raises(RefExists):
        refs.create_tag("v1.0", oid(2))
    with pytest.raises(RefExists):
        refs.create_tag("v1.0", oid(1))
    assert refs.read(TAGS + "v1.0") == oid(1)
    assert refs.tags() == {"v1.0": oid(1)}
    assert [p.name for p in (refs.root / "refs/tags").iterdir()] == ["v1.0"]  # no temp files
    assert [(e.old, e.new) for e in refs.reflog(TAGS + "v1.0")] == [(None, oid(1))]


def test_branch_create_and_delete(refs: RefStore) -> None:
    """Creating an existing branch fails; deleting returns the old id and logs it."""
    refs.create_branch("dev", oid(1), "branch: created")
    with pytest.raises(RefExists):
        refs.create_branch("dev", oid(2), "branch: created")
    assert refs.delete_branch("dev") == oid(1)
    assert refs.read(HEADS + "dev") is None
    with pytest.raises(UsageError):
        refs.delete_branch("dev")
    assert refs.reflog(HEADS + "dev")[-1].new is None


@pytest.mark.parametrize(
    "name",
    [
        "",
        "..",
        "a..b",
        "../escape",
        "-rf",
        ".hidden",
        "has space",
        "tab\there",
        "a~1",
        "a^",
        "a:b",
        "what?",
        "star*",
        "br[acket",
        "back\\slash",
        "x.lock",
        "trailing/",
        "a//b",
        "a/.b",
        "at@{1}",
        "@",
        "HEAD",
        "nul\x00",
        "del\x7f",
    ],
)
def test_invalid_ref_names(refs: RefStore, name: str) -> None:
    """Names git refuses (and names that could escape .dvault/refs) are refused."""
    with pytest.raises(InvalidName):
        check_ref_name(name)
    with pytest.raises(InvalidName):
        refs.create_tag(name, oid(1))
    with pytest.raises(InvalidName):
        refs.create_branch(name, oid(1), "x")
    assert refs.tags() == {} and refs.branches() == {}


@pytest.mark.parametrize("name", ["main", "v1.0", "feature/new-labels", "release_2024.06", "é"])
def test_valid_ref_names(name: str) -> None:
    """Ordinary branch and tag names are accepted."""
    check_ref_name(name)


@pytest.mark.parametrize(
    "content", [b"garbage\n", b"ab" * 31 + b"\n", b"\xff\xfe\n", ("zz" * 32).encode()]
)
def test_damaged_ref_file_is_corrupt(refs: RefStore, content: bytes) -> None:
    """A ref file that does not hold a full id raises CorruptObject naming the ref."""
    (refs.root / "refs/heads/main").write_bytes(content)
    with pytest.raises(CorruptObject, match="refs/heads/main"):
        refs.read(HEADS + "main")
    with pytest.raises(CorruptObject):
        refs.head()
