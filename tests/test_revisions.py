"""Revision names: HEAD, branches, tags, (abbreviated) ids and the ``~N`` / ``^N`` suffixes."""

from __future__ import annotations

import time

import pytest

from dvault.commitobjects import Commit, Tag
from dvault.errors import UnknownRevision
from dvault.hashing import ObjectId, ObjectType, object_id
from dvault.repo import Repo


def commit_file(repo: Repo, content: bytes, message: str) -> ObjectId:
    path = repo.root / "data/f"
    path.parent.mkdir(exist_ok=True)
    path.write_bytes(content)
    repo.add([repo.root / "data"])
    return repo.commit(message)


@pytest.fixture
def chain(repo: Repo) -> tuple[Repo, list[ObjectId]]:
    """Three commits c0 <- c1 <- c2 on main."""
    ids = [commit_file(repo, f"v{i}".encode(), f"c{i}") for i in range(3)]
    return repo, ids


def test_head_and_at_sign(chain: tuple[Repo, list[ObjectId]]) -> None:
    """``HEAD`` and ``@`` both name the current commit."""
    repo, ids = chain
    assert repo.resolve("HEAD") == ids[2]
    assert repo.resolve("@") == ids[2]


def test_head_before_first_commit(repo: Repo) -> None:
    """HEAD in an empty repository is a clear UnknownRevision, not a crash."""
    with pytest.raises(UnknownRevision, match="no commits"):
        repo.resolve("HEAD")


def test_branch_names(chain: tuple[Repo, list[ObjectId]]) -> None:
    """A branch name resolves to its tip; ``refs/heads/NAME`` works too."""
    repo, ids = chain
    repo.branch("older", ids[0].hex())
    assert repo.resolve("older") == ids[0]
    assert repo.resolve("main") == ids[2]
    assert repo.resolve("refs/heads/older") == ids[0]


def test_tags_are_peeled_to_commits(chain: tuple[Repo, list[ObjectId]]) -> None:
    """An annotated tag names its commit, not the tag object."""
    repo, ids = chain
    tag_oid = repo.tag("v1", ids[1].hex(), message="release")
    assert tag_oid != ids[1]
    assert repo.resolve("v1") == ids[1]
    assert repo.resolve("refs/tags/v1") == ids[1]
    assert repo.resolve(tag_oid.hex()) == ids[1]  # a tag object's id peels as well


def test_nested_tags_are_peeled(chain: tuple[Repo, list[ObjectId]]) -> None:
    """A tag of a tag is followed down to the commit."""
    repo, ids = chain
    inner = repo.tag("inner", ids[0].hex())
    outer = Tag(inner, "tag", "outer", "T <t@e>", time.time_ns(), "")
    with repo.store.writer() as writer:
        outer_oid = writer.put(outer)
    repo.refs.create_tag("outer", outer_oid)
    assert repo.resolve("outer") == ids[0]


def test_branch_wins_over_tag_of_same_name(chain: tuple[Repo, list[ObjectId]]) -> None:
    """When a branch and a tag share a name, the branch is meant (as in git)."""
    repo, ids = chain
    repo.tag("same", ids[0].hex())
    repo.branch("same", ids[1].hex())
    assert repo.resolve("same") == ids[1]
    assert repo.resolve("refs/tags/same") == ids[0]


def test_full_and_abbreviated_ids(chain: tuple[Repo, list[ObjectId]]) -> None:
    """A full hex id and any unique prefix of at least 4 digits name the commit."""
    repo, ids = chain
    full = ids[1].hex()
    assert repo.resolve(full) == ids[1]
    assert repo.resolve(full[:12]) == ids[1]
    assert repo.resolve(full[:7]) == ids[1]  # odd lengths too, as people type them
    with pytest.raises(UnknownRevision):
        repo.resolve(full[:3])  # too short to be an id


def test_unknown_id_prefix(chain: tuple[Repo, list[ObjectId]]) -> None:
    """A well-formed id that the store does not hold is unknown."""
    repo, ids = chain
    missing = "f" * 64 if not ids[0].hex().startswith("ffff") else "0" * 64
    with pytest.raises(UnknownRevision, match="unknown revision"):
        repo.resolve(missing)


def test_ambiguous_prefix(repo: Repo) -> None:
    """A prefix shared by two objects is refused as ambiguous, never resolved to either."""
    seen: dict[str, bytes] = {}
    i = 0
    while True:  # two blobs whose ids share 4 hex digits (birthday bound: ~300 tries)
        body = f"blob {i}".encode()
        prefix = object_id(ObjectType.BLOB, body).hex()[:4]
        if prefix in seen:
            pair = (seen[prefix], body)
            break
        seen[prefix] = body
        i += 1
    with repo.store.writer() as writer:
        for body in pair:
            writer.put_raw(ObjectType.BLOB, body)
    with pytest.raises(UnknownRevision, match="ambiguous"):
        repo.resolve(prefix)


def test_tilde_and_caret(chain: tuple[Repo, list[ObjectId]]) -> None:
    """``~N`` walks N first parents; ``~`` and ``^`` mean one; ``^0`` is the commit itself."""
    repo, ids = chain
    assert repo.resolve("HEAD~1") == ids[1]
    assert repo.resolve("HEAD~") == ids[1]
    assert repo.resolve("HEAD~2") == ids[0]
    assert repo.resolve("HEAD~0") == ids[2]
    assert repo.resolve("HEAD^") == ids[1]
    assert repo.resolve("HEAD^1") == ids[1]
    assert repo.resolve("HEAD^0") == ids[2]
    assert repo.resolve("main~1^") == ids[0]
    assert repo.resolve("HEAD^^") == ids[0]
    assert repo.resolve(f"{ids[2].hex()[:10]}~2") == ids[0]


def test_walking_past_the_root_commit(chain: tuple[Repo, list[ObjectId]]) -> None:
    """Going beyond the first commit is an UnknownRevision naming the revision."""
    repo, _ = chain
    with pytest.raises(UnknownRevision, match="HEAD~3"):
        repo.resolve("HEAD~3")
    with pytest.raises(UnknownRevision):
        repo.resolve("HEAD~2^")


def test_second_parent(chain: tuple[Repo, list[ObjectId]]) -> None:
    """``^2`` is the second parent of a merge, and an error on a commit with one parent."""
    repo, ids = chain
    with pytest.raises(UnknownRevision):
        repo.resolve("HEAD^2")
    merge = Commit(
        tree=repo.read_commit(ids[2]).tree,
        parents=(ids[2], ids[0]),
        author="T <t@e>",
        time_ns=time.time_ns(),
        message="merge",
    )
    with repo.store.writer() as writer:
        merge_oid = writer.put(merge)
    repo.refs.create_branch("merged", merge_oid, "test")
    assert repo.resolve("merged^2") == ids[0]
    assert repo.resolve("merged^1") == ids[2]
    assert repo.resolve("merged^2~0") == ids[0]
    with pytest.raises(UnknownRevision):
        repo.resolve("merged^3")


def test_unknown_names(chain: tuple[Repo, list[ObjectId]]) -> None:
    """Names matching nothing, and empty names, are UnknownRevision with the name shown."""
    repo, _ = chain
    with pytest.raises(UnknownRevision, match="'nope'"):
        repo.resolve("nope")
    with pytest.raises(UnknownRevision, match="nope"):
        repo.resolve("nope~1")
    with pytest.raises(UnknownRevision):
        repo.resolve("")
    with pytest.raises(UnknownRevision):
        repo.resolve("refs/heads/nope")


def test_tree_and_blob_ids_are_not_revisions(chain: tuple[Repo, list[ObjectId]]) -> None:
    """The id of a tree or a blob is refused: it names something that is not a commit."""
    repo, ids = chain
    tree = repo.read_commit(ids[0]).tree
    with pytest.raises(UnknownRevision, match="tree"):
        repo.resolve(tree.hex())
    staged = repo.state.stage_get(b"data/f")
    assert staged is not None
    blob = staged.id
    with pytest.raises(UnknownRevision, match="not a commit"):
        repo.resolve(blob.hex()[:16])
