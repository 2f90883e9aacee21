"""After ``dvault forget`` and ``dvault prune``: the issue's "Done when", through the real
CLI on a directory remote and moto's S3 server. ``verify --remote --read-data`` is clean
and says which commits were released; a fresh full clone restores every kept commit byte
for byte and holds the released commits' history only; checkout and ``dvault.open`` of a
released commit say "released by forget on DATE by USER (policy ...)" in one line and
change nothing; only a trusted, signed forget entry turns absent contents into
"released" (an untrusted or tampered one leaves them reported missing)."""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

import dvault
from dvault.commitobjects import Signature, canonical_json
from dvault.errors import ContentsReleased
from dvault.remote.logentry import Action, LogEntry, entry_key
from dvault.remote.session import Remote, pick_remote
from dvault.repo import Repo
from tests.cli.helpers import Project, one_error_line
from tests.remote.conftest import RemoteTarget, clone, new_project, tree_digests
from tests.remote.prune_helpers import holds, in_env, trust_own_key

ADMIN = {
    "DVAULT_ADMIN_AWS_ACCESS_KEY_ID": "admin",
    "DVAULT_ADMIN_AWS_SECRET_ACCESS_KEY": "admin",
}


def admin_args(target: RemoteTarget) -> list[str]:
    return ["--admin"] if target.kind == "dir" else []


def history(
    tmp_path: Path, target: RemoteTarget, *remote_options: str
) -> tuple[Project, list[str], dict[str, dict[str, str]], dict[str, bytes]]:
    """Four commits on main, each pushed: c1 (a.bin, shared.bin), c2 (a.bin replaced),
    c3 (a.bin replaced, b.bin), c4 (b.bin changed). Returns the project, the commits
    oldest first, each commit's files (sha256 by path) and the a.bin bytes of c1 and c2
    (only released commits hold them)."""
    proj = new_project(tmp_path / "work", target.env)
    trust_own_key(proj)
    proj.ok(*target.add_args("origin", *remote_options))
    shared = os.urandom(40_000)
    gone = {"c1": os.urandom(60_000), "c2": os.urandom(60_000)}
    files: dict[str, dict[str, str]] = {}

    def commit(message: str, **data: bytes) -> str:
        for name, content in data.items():
            proj.write(f"data/{name}.bin", content)
        proj.ok("add", "data")
        proj.ok("commit", "-m", message)
        return proj.head()

    commits = [
        commit("c1", a=gone["c1"], shared=shared),
        commit("c2", a=gone["c2"]),
        commit("c3", a=os.urandom(60_000), b=os.urandom(30_000)),
        commit("c4", b=os.urandom(30_000)),
    ]
    for commit_id in commits:
        proj.ok("checkout", commit_id)
        files[commit_id] = tree_digests(proj.root)
    proj.ok("checkout", "main")
    proj.ok("push", "origin", "main")
    return proj, commits, files, gone


def forget_and_prune(proj: Project, target: RemoteTarget) -> tuple[list[str], dict[str, int]]:
    """``forget --keep-last 2`` (releases c1 and c2), then prune in two runs (plan, then
    execute): returns the released commits and the execute run's JSON report, checking
    that what it reports freed is what the storage lost."""
    forgot = proj.ok("forget", "origin", "--keep-last", "2", "--json").json()
    proj.env.update(ADMIN)
    planned = proj.ok("prune", "origin", "--json", *admin_args(target)).json()
    assert planned["planned_seq"] is not None and not planned["deleted"]
    before = sum(target.packs().values())  # the repacked packs are uploaded by now
    done = proj.ok("prune", "origin", "--grace", "0", "--json", *admin_args(target)).json()
    after = sum(target.packs().values())
    assert done["deleted"] and done["bytes_freed"] == before - after > 0
    return sorted(forgot["released"]), done


def restores_byte_for_byte(other: Project, commit: str, expected: dict[str, str]) -> None:
    other.ok("checkout", commit)
    assert tree_digests(other.root) == expected


def test_after_forget_and_prune_verify_is_clean_and_a_clone_restores_every_kept_commit(
    tmp_path: Path, remote: RemoteTarget
) -> None:
    proj, commits, files, gone = history(tmp_path, remote)
    released, _done = forget_and_prune(proj, remote)
    assert released == sorted(commits[:2])
    # the released commits' own bytes are in no remote object any more
    for key in remote.packs():
        raw = remote.read(key)
        assert not any(holds(raw, data) for data in gone.values())
    # verify --remote --read-data: clean, and says which commits were released and why
    result = proj.ok("verify", "--remote", "origin", "--read-data")
    for commit in released:
        assert f"commit {commit[:12]}: released by forget on " in result.out
    assert "(policy keep-last 2)" in result.out and "2 commit(s) released by forget" in result.out
    report = proj.ok("verify", "--remote", "origin", "--read-data", "--json").json()
    assert report["ok"] and report["bytes_checked"] > 0
    assert sorted(r["commit"] for r in report["released"]) == released
    assert all(r["policy"] == "keep-last 2" for r in report["released"])
    # a fresh full clone: every kept commit whole, byte for byte; the released ones'
    # history only (log shows the whole chain)
    other = clone(remote, tmp_path / "other")
    for commit in commits[2:]:
        restores_byte_for_byte(other, commit, files[commit])
    log = [c["id"] for c in other.ok("log", "--json").json()]
    assert log == commits[::-1]
    local = other.ok("verify", "--read-data")
    assert "2 commit(s) released by forget" in local.out
    for commit in released:
        assert f"commit {commit[:12]}: released by forget on " in local.out
    # checkout of a released commit: one line, exit 1, the work tree as it was
    other.ok("checkout", commits[3])
    before = tree_digests(other.root)
    refused = other.run("checkout", commits[0])
    assert refused.code == 1
    line = one_error_line(refused)
    assert f"commit {commits[0][:12]}: released by forget on " in line
    assert "(policy keep-last 2)" in line
    assert tree_digests(other.root) == before
    # dvault.open of a released revision: the same line, as an exception
    with in_env(other.env), pytest.raises(ContentsReleased, match="released by forget on"):
        dvault.open("data/shared.bin", commits[1], repo=other.root)
    with in_env(other.env), dvault.open("data/shared.bin", commits[2], repo=other.root) as f:
        assert len(f.read()) == 40_000
    # fetch again (nothing new) and a second verify stay clean
    other.ok("fetch", "origin")
    other.ok("verify")


def _craft_forget(
    proj: Project, target: RemoteTarget, released: list[str], user: str
) -> tuple[LogEntry, Ed25519PrivateKey]:
    """A forget entry releasing ``released``, signed by a fresh key nobody trusts, written
    behind dvault's back (what a leaked pusher credential can do)."""
    with in_env(proj.env), Repo.open(proj.root) as repo:
        state = Remote(repo, pick_remote(repo, "origin")).log.load().state
    fields = {
        "branches": ["refs/heads/main"],
        "policy": {"keep_last": 1},
        "released": sorted(released),
        "released_refs": [],
    }
    entry = LogEntry(state.seq + 1, state.head, (), 3, user, "h", action=Action("forget", fields))
    key = Ed25519PrivateKey.generate()
    public = key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    signed = dataclasses.replace(
        entry, signature=Signature(public, key.sign(entry.signed_message()))
    )
    return signed, key


def _write(target: RemoteTarget, key: str, data: bytes) -> None:
    if target.kind == "dir":
        assert target.root is not None
        (target.root / key).write_bytes(data)
    else:
        target.replace(key, data)


def _lose_pack_of(proj: Project, target: RemoteTarget, data: bytes) -> None:
    """Damage: delete, behind dvault's back, every pack holding ``data``."""
    hit = [key for key in target.packs() if holds(target.read(key), data)]
    assert hit
    for key in hit:
        target.delete(key)


def test_a_forged_forget_does_not_turn_damage_into_released(
    tmp_path: Path, remote: RemoteTarget
) -> None:
    proj, commits, _files, gone = history(tmp_path, remote)
    entry, _key = _craft_forget(proj, remote, commits[:2], "mallory\x1b[2J")
    _write(remote, entry_key(entry.seq), entry.encode())
    _lose_pack_of(proj, remote, gone["c1"])
    result = proj.run("verify", "--remote", "origin")
    assert result.code == 1
    text = result.out + result.err
    assert "missing on" in text and "released by forget" not in text
    assert "(forget) is signed by key" in text and "not a trusted signer" in text
    assert "\x1b" not in text
    report = proj.run("verify", "--remote", "origin", "--json")
    assert report.code == 1 and json.loads(report.out)["released"] == []
    # a clone records nothing as released: the lost data fails the clone, as damage
    failed = Project(tmp_path, remote.env).run(*remote.clone_args(tmp_path / "other"))
    assert failed.code == 3 and "is missing" in failed.err and "released" not in failed.err
    assert "not a trusted signer; ignored" in failed.err


def test_a_tampered_forget_entry_releases_nothing(tmp_path: Path, remote: RemoteTarget) -> None:
    """A trusted forget entry whose released list was edited after signing is a hole
    (its signature no longer verifies; on S3 the first, signed version is read and the
    replacement reported): the commit added to it is reported missing, not released.
    Seen by a clone reading the entry for the first time."""
    proj, commits, _files, gone = history(tmp_path, remote)
    other = clone(remote, tmp_path / "other")  # before the forget: reads it fresh later
    proj.ok("forget", "origin", "--keep-last", "3")  # releases c1 only, signed and trusted
    key = remote.log_keys()[-1]
    value = json.loads(remote.read(key))
    assert value["action"]["released"] == [commits[0]]
    value["action"]["released"] = sorted(commits[:2])  # c2 added by someone else
    _write(remote, key, canonical_json(value))
    _lose_pack_of(proj, remote, gone["c2"])
    result = other.run("verify", "--remote", "origin")
    assert result.code == 1
    text = result.out + result.err
    assert "missing on" in text and f"commit {commits[1][:12]}: released" not in text
    if remote.kind == "dir":  # the edited entry is read: a hole
        assert "signature that does not verify" in text and "released by forget" not in text
    else:  # S3 keeps the first version (the signed one, releasing c1 only) and says so
        assert "a create-only file was replaced" in text
        assert f"commit {commits[0][:12]}: released by forget" in text


def test_an_s3_object_lock_remote_after_forget_and_prune(
    tmp_path: Path, s3_remote: RemoteTarget
) -> None:
    """On an Object Lock bucket (versioned, no default retention): prune deletes every
    version of what it frees; verify --remote --read-data is clean; a clone restores the
    kept commits byte for byte."""
    proj, commits, files, gone = history(tmp_path, s3_remote)
    forget_and_prune(proj, s3_remote)
    for key in s3_remote.keys("packs/"):
        for index in range(len(s3_remote.versions(key))):
            raw = s3_remote.read_version(key, index)
            assert not any(holds(raw, data) for data in gone.values())
    proj.ok("verify", "--remote", "origin", "--read-data")
    other = clone(s3_remote, tmp_path / "other")
    for commit in commits[2:]:
        restores_byte_for_byte(other, commit, files[commit])
