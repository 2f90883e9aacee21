"""``dvault forget`` on a real directory remote and on moto's S3 server.

A 12-day history is committed with fixed commit times, pushed, and forgotten with
``--keep-daily 3``: forget appends one signed version 3 entry (nothing deleted), a second
client sees the same released set, and an action entry that is unsigned (a hole) or
signed by a key nobody trusts is reported and releases nothing."""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Iterator
from pathlib import Path
from unittest import mock

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from dvault.commitobjects import Signature
from dvault.remote.backend import Backend, RemoteSpec
from dvault.remote.logentry import MAX_ENTRY, Action, LogEntry, entry_key
from dvault.remote.registry import open_backend
from dvault.repo import Repo
from dvault.signing import generate
from tests.cli.helpers import Project, one_error_line
from tests.remote.conftest import RemoteTarget, moto_server, s3_target
from tests.security._reflog_helpers import chain_head, isolated_env

DAY = 86_400 * 10**9
__all__ = ["moto_server"]  # the fixture, used by name


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    return isolated_env(tmp_path / "home", monkeypatch)


@pytest.fixture(params=["dir", "s3"])
def target(request: pytest.FixtureRequest, tmp_path: Path, env: dict[str, str]) -> RemoteTarget:
    if request.param == "dir":
        root = tmp_path / "nas" / "proj.remote"
        root.parent.mkdir()
        return RemoteTarget("dir", str(root), env, root=root)
    return s3_target(request.getfixturevalue("moto_server"), env)


def backend_of(target: RemoteTarget) -> Backend:
    return open_backend(RemoteSpec("raw", target.url, target.endpoint))


@dataclasses.dataclass
class History:
    proj: Project
    commits: list[str]  # oldest first
    signer_line: str


@pytest.fixture
def history(tmp_path: Path, env: dict[str, str], target: RemoteTarget) -> Iterator[History]:
    """12 commits, one a day ending yesterday, pushed (signed) to ``target``; the owner
    trusts its own key."""
    key = generate()
    (Path(env["DVAULT_CONFIG_DIR"]) / "allowed_signers").write_text(key.signer_line + "\n")
    root = tmp_path / "owner"
    root.mkdir()
    start = time.time_ns() - 12 * DAY
    commits = []
    with Repo.init(root, at_git_root=False) as repo:
        (root / "data").mkdir()
        for day in range(12):
            (root / "data" / "a.txt").write_text(f"day {day}\n")
            repo.add([root / "data"])
            with mock.patch("time.time_ns", return_value=start + day * DAY):
                repo.commit(f"day {day}")
            head = repo.head()[1]
            assert head is not None
            commits.append(head.hex())
    proj = Project(root, env)
    proj.ok(*target.add_args("origin"))
    proj.ok("push", "origin")
    yield History(proj, commits, key.signer_line)


def entries(target: RemoteTarget) -> list[dict[str, object]]:
    backend = backend_of(target)
    found, seq = [], 0
    while backend.size(entry_key(seq)) is not None:
        found.append(json.loads(backend.read(entry_key(seq), MAX_ENTRY)))
        seq += 1
    return found


def test_forget_appends_one_signed_entry_a_second_client_sees(
    history: History, target: RemoteTarget, tmp_path: Path
) -> None:
    proj, commits = history.proj, history.commits
    before = len(entries(target))
    dry = proj.ok("forget", "origin", "--keep-daily", "3", "--dry-run", "--json").json()
    assert dry["dry_run"] and dry["entry"] is None
    assert dry["released"] == sorted(commits[:9])
    assert len(entries(target)) == before  # a dry run appends nothing

    result = proj.ok("forget", "origin", "--keep-daily", "3")
    assert "released 9 commit(s) of 12" in result.out, result.describe()
    assert f"keep          {commits[-1][:12]}" in result.out
    log = entries(target)
    assert len(log) == before + 1
    entry = log[-1]
    assert entry["version"] == 3 and entry["updates"] == [] and "signature" in entry
    assert entry["action"] == {
        "kind": "forget",
        "branches": ["refs/heads/main"],
        "policy": {"keep_daily": 3},
        "released": sorted(commits[:9]),
        "released_refs": [],
    }
    # nothing deleted: every pack and commit still there, the history still verifies
    proj.ok("verify", "--remote", "origin")

    # a second client (it trusts the same key) sees the same released set
    other = Project(tmp_path, proj.env)
    other.ok(*target.clone_args(tmp_path / "second"))
    second = Project(tmp_path / "second", proj.env)
    again = second.ok("forget", "origin", "--keep-daily", "3", "--dry-run", "--json").json()
    actions = {row["id"]: row["action"] for row in again["commits"]}
    assert {c for c, a in actions.items() if a == "released"} == set(commits[:9])
    assert again["released"] == []
    # nothing new to release: no entry appended
    assert "nothing to release" in second.ok("forget", "origin", "--keep-daily", "3").out
    assert len(entries(target)) == before + 1


def _forged_forget(target: RemoteTarget, scratch: Path, released: list[str], key: bool) -> None:
    """An attacker with the pusher credential appends a forget entry, unsigned (``key``
    false: a hole) or signed by a key of its own."""
    backend = backend_of(target)
    last, head = chain_head(backend, scratch)
    action = Action(
        "forget",
        {
            "branches": ["refs/heads/main"],
            "policy": {"keep_last": 1},
            "released": sorted(released),
            "released_refs": [],
        },
    )
    entry = LogEntry(last + 1, head, (), time.time_ns(), "mallory", "evil", None, action)
    if key:
        private = Ed25519PrivateKey.generate()
        public = private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        entry = dataclasses.replace(
            entry, signature=Signature(public, private.sign(entry.signed_message()))
        )
    backend.create(entry_key(last + 1), entry.encode())


def test_untrusted_forget_is_reported_and_releases_nothing(
    history: History, target: RemoteTarget, tmp_path: Path
) -> None:
    proj, commits = history.proj, history.commits
    _forged_forget(target, tmp_path, commits[:11], key=True)
    result = proj.ok("forget", "origin", "--keep-daily", "30", "--dry-run", "--json")
    assert "(forget) is signed by key" in result.err and "not a trusted signer" in result.err
    report = result.json()
    assert all(row["action"] == "keep" for row in report["commits"]), report
    assert len(report["ignored"]) == 1


def test_unsigned_forget_is_a_hole(history: History, target: RemoteTarget, tmp_path: Path) -> None:
    proj, commits = history.proj, history.commits
    _forged_forget(target, tmp_path, commits[:11], key=False)
    result = proj.ok("forget", "origin", "--keep-daily", "30", "--dry-run", "--json")
    report = result.json()
    assert all(row["action"] == "keep" for row in report["commits"]), report
    fetched = proj.ok("fetch", "origin")
    assert "is an unsigned action entry" in fetched.err, fetched.describe()
    # the log goes on after the hole: an honest forget still lands and acts
    proj.ok("forget", "origin", "--keep-last", "2")
    report = proj.ok("forget", "origin", "--keep-last", "2", "--dry-run", "--json").json()
    released = {row["id"] for row in report["commits"] if row["action"] == "released"}
    assert released == set(commits[:10])


def test_bad_input_is_one_line_and_changes_nothing(history: History, target: RemoteTarget) -> None:
    proj = history.proj
    before = len(entries(target))
    for args, words in [
        (["--dry-run"], "at least one --keep"),
        (["--keep-within", "3 weeks"], "invalid duration"),
        (["--keep-last", "1", "--branch", "nope"], "has no branch nope"),
        (["--keep-last", "1", "--release-tag", "nope"], "has no tag or pin nope"),
    ]:
        result = proj.run("forget", "origin", *args)
        assert result.code != 0 and words in one_error_line(result), result.describe()
    assert len(entries(target)) == before


def test_forget_without_a_trusted_key_refuses(
    history: History, target: RemoteTarget, env: dict[str, str]
) -> None:
    (Path(env["DVAULT_CONFIG_DIR"]) / "allowed_signers").write_text("")
    before = len(entries(target))
    result = history.proj.run("forget", "origin", "--keep-last", "1")
    assert result.code != 0 and "not a trusted signer here" in one_error_line(result)
    assert len(entries(target)) == before


def test_branches_tags_and_protected_branches(tmp_path: Path, env: dict[str, str]) -> None:
    """A commit shared with a branch not chosen is kept; a tagged commit is kept until the
    tag is named; a protected branch is only forgotten when named."""
    key = generate()
    (Path(env["DVAULT_CONFIG_DIR"]) / "allowed_signers").write_text(key.signer_line + "\n")
    root = tmp_path / "owner"
    root.mkdir()
    start = time.time_ns() - 12 * DAY
    commits = []
    with Repo.init(root, at_git_root=False) as repo:
        (root / "data").mkdir()
        for day in range(12):
            (root / "data" / "a.txt").write_text(f"day {day}\n")
            repo.add([root / "data"])
            with mock.patch("time.time_ns", return_value=start + day * DAY):
                repo.commit(f"day {day}")
            head = repo.head()[1]
            assert head is not None
            commits.append(head.hex())
        repo.branch("dev", commits[5])
        repo.tag("v-old", commits[2], "an old baseline")
    proj = Project(root, env)
    proj.ok("remote", "add", "--init", "origin", str(tmp_path / "r1"))
    proj.ok("remote", "add", "--init", "guarded", str(tmp_path / "r2"), "--protect", "main")
    for name in ("origin", "guarded"):
        proj.ok("push", name, "--all")

    def released(*args: str) -> set[str]:
        report = proj.ok("forget", *args, "--keep-last", "1", "--dry-run", "--json").json()
        return set(report["released"])

    index = {c: i for i, c in enumerate(commits)}
    assert {index[c] for c in released("origin", "--branch", "main")} == {6, 7, 8, 9, 10}
    assert {index[c] for c in released("origin")} == {0, 1, 3, 4, 6, 7, 8, 9, 10}
    with_tag = released("origin", "--release-tag", "v-old")
    assert {index[c] for c in with_tag} == {0, 1, 2, 3, 4, 6, 7, 8, 9, 10}
    # main is protected on "guarded": by default only dev's history is forgotten, and what
    # dev holds is main's too, so nothing is released until main is named
    report = proj.ok("forget", "guarded", "--keep-last", "1", "--dry-run", "--json").json()
    assert report["branches"] == ["refs/heads/dev"] and report["released"] == []
    assert {index[c] for c in released("guarded", "--branch", "main")} == {6, 7, 8, 9, 10}
    # the tag stays kept after a real forget that did not name it, and is then released
    proj.ok("forget", "origin", "--keep-last", "1")
    proj.ok("forget", "origin", "--keep-last", "1", "--release-tag", "v-old")
    report = proj.ok("forget", "origin", "--keep-last", "1", "--dry-run", "--json").json()
    actions = {index[row["id"]]: row["action"] for row in report["commits"]}
    assert actions[2] == "released" and actions[5] == "keep" and actions[11] == "keep"
