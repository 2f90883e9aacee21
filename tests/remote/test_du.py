"""``dvault remote du``: bytes by branch, tag and age, shared bytes counted once, what a
forget policy would free, Object Lock grouped by retain-until day; read-only, and
hostile packs bounded (one bad pack never stops the rest)."""

from __future__ import annotations

import datetime
import os
from pathlib import Path
from typing import Any, cast

import pytest

from dvault.errors import UsageError
from dvault.hashing import ObjectId, ObjectType
from dvault.remote.usageplan import Sizes
from dvault.retention import Duration, Policy, parse_policy
from dvault.store.pack import PackEntry
from tests.cli.helpers import Project, one_error_line

from .conftest import RemoteTarget, build_ml, commit_file
from .test_least_privilege import deny_writes, remote_state


def _du(proj: Project, *extra: str) -> dict[str, Any]:
    report: dict[str, Any] = proj.ok("remote", "du", "origin", "--json", *extra).json()
    return report


def _two_branches(proj: Project) -> None:
    """main and v1 pushed; then ``exp`` with a big file of its own, and main with another."""
    proj.ok("push", "origin", "main", "v1")
    proj.ok("branch", "exp")
    proj.ok("checkout", "exp")
    commit_file(proj, "data/exp.bin", os.urandom(300_000), "exp data")
    proj.ok("push", "origin", "exp")
    proj.ok("checkout", "main")
    commit_file(proj, "data/more.bin", os.urandom(100_000), "more data")
    proj.ok("push", "origin", "main")


def test_du_attributes_bytes_to_refs_and_counts_shared_once(
    remote: RemoteTarget, tmp_path: Path
) -> None:
    proj = build_ml(tmp_path / "work", remote)
    _two_branches(proj)
    report = _du(proj)
    refs = {r["ref"]: r for r in report["refs"]}
    assert set(refs) == {"refs/heads/main", "refs/heads/exp", "refs/tags/v1"}
    # every live byte is either one ref's own or shared, never counted twice
    assert sum(r["own"] for r in refs.values()) + report["shared"] == report["live"]
    assert report["live"] + report["unreferenced"] == report["bytes"]
    assert report["bytes"] == sum(remote.packs().values())
    # the v1 dataset (~3 MB incompressible) is shared by all three refs
    assert report["shared"] > 2_000_000
    assert 300_000 <= refs["refs/heads/exp"]["own"] < 400_000
    assert 100_000 <= refs["refs/heads/main"]["own"] < 200_000
    assert refs["refs/heads/main"]["commits"] == 2
    assert report["missing_objects"] == 0 and report["problems"] == []
    if remote.kind == "dir":
        assert report["locks"] is None
        assert "this storage has no retention lock" in proj.ok("remote", "du", "origin").out

    text = proj.ok("remote", "du", "origin", "--by", "tag").out
    assert "v1  reach" in text and "exp  reach" not in text
    ages = proj.ok("remote", "du", "origin", "--by", "age", "--json").json()["ages"]
    assert ages[0]["age"] == "last 7 days"
    assert ages[0]["bytes"] == report["live"] - _tag_objects(report)


def _tag_objects(report: dict[str, Any]) -> int:
    """Bytes of annotated tag objects (no commit needs them: not in the age rows)."""
    refs = {r["ref"]: r for r in report["refs"]}
    return int(refs["refs/tags/v1"]["own"])


def test_du_policy_says_what_forget_would_release_and_free(
    remote: RemoteTarget, tmp_path: Path
) -> None:
    proj = build_ml(tmp_path / "work", remote)
    proj.ok("push", "origin", "main", "v1")
    for n in range(3):  # each commit replaces a big file: old versions only old commits need
        commit_file(proj, "models/checkpoint.bin", os.urandom(400_000 + n), f"ckpt {n}")
    proj.ok("push", "origin", "main")
    policy = _du(proj, "--policy", "--keep-last 1")["policy"]
    # main has 4 commits: the newest is kept, v1's commit is a tag's, two are released
    assert policy["kept"] == 2 and policy["released"] == 2
    assert 800_000 <= policy["frees"] < 900_000  # the two released checkpoints
    # the released checkpoints' packs go whole; released commit objects stay (decision 2)
    assert policy["whole_packs"] >= 1 and policy["whole_bytes"] >= 800_000
    assert policy["whole_bytes"] < 900_000
    assert _du(proj, "--policy", "--keep-last 10")["policy"]["frees"] == 0


@pytest.mark.parametrize(
    ("policy", "says"),
    [
        ("--keep-often 3", "unknown option '--keep-often'"),
        ("--keep-daily seven", "takes a count"),
        ("--keep-within 3 weeks", "invalid duration '3'"),
        ("--keep-within 3w", "invalid duration '3w'"),
        ("", "names no --keep-* rule"),
        ("--keep-daily '7", "--policy:"),
    ],
)
def test_du_refuses_a_bad_policy_in_one_line(
    policy: str, says: str, tmp_path: Path, remote_env: dict[str, str]
) -> None:
    store = tmp_path / "nas"
    proj = Project(tmp_path / "work", remote_env)
    proj.root.mkdir()
    proj.ok("init")
    proj.ok("remote", "add", "--init", "origin", str(store))
    result = proj.run("remote", "du", "origin", "--policy", policy)
    assert result.code == 2, result.describe()
    assert says in one_error_line(result)
    result = proj.run("remote", "du", "origin", "--by", "size")
    assert result.code == 2 and "--by takes branch, tag or age" in one_error_line(result)


def test_policy_text_parses_into_the_retention_policy() -> None:
    """``--policy`` is forget's options as one text, read into dvault.retention.Policy."""
    assert parse_policy("--keep-daily 7 --keep-weekly=5 --keep-within 2y5m --keep-tags") == (
        Policy(daily=7, weekly=5, within=Duration(years=2, months=5), tags=True)
    )
    assert parse_policy("--keep-last 3") == Policy(last=3)
    with pytest.raises(UsageError, match="longer than"):
        parse_policy("--keep-daily 7 " * 200)
    with pytest.raises(UsageError, match="needs a value"):
        parse_policy("--keep-daily")


def test_du_groups_object_lock_by_retain_until_day(s3_remote: RemoteTarget, tmp_path: Path) -> None:
    proj = build_ml(tmp_path / "work", s3_remote, "--retention", "7")
    proj.ok("push", "origin", "main", "v1")
    commit_file(proj, "data/more.bin", os.urandom(100_000), "more")
    proj.ok("push", "origin", "main")
    packs = s3_remote.packs()
    assert len(packs) >= 2
    # one pack's lock is extended (COMPLIANCE may be lengthened, never shortened)
    longer = datetime.datetime.now(datetime.UTC) + datetime.timedelta(days=40)
    key = sorted(packs)[0]
    s3_remote.client.put_object_retention(
        Bucket=s3_remote.bucket,
        Key=s3_remote.prefix + key,
        VersionId=s3_remote.head(key)["VersionId"],
        Retention={"Mode": "COMPLIANCE", "RetainUntilDate": longer},
    )
    locks = _du(proj)["locks"]
    week = (datetime.datetime.now(datetime.UTC) + datetime.timedelta(days=7)).date()
    days = {datetime.date.fromisoformat(g["until"]) for g in locks}
    assert longer.date() in days
    assert any(abs((d - week).days) <= 1 for d in days)
    assert sum(g["packs"] for g in locks) == len(packs)
    assert sum(g["bytes"] for g in locks) == sum(packs.values())
    assert {g["mode"] for g in locks} == {"COMPLIANCE"}
    text = proj.ok("remote", "du", "origin").out
    assert f"until {longer.date().isoformat()} COMPLIANCE" in text


def test_du_needs_only_read_access_and_changes_nothing(
    s3_remote: RemoteTarget, tmp_path: Path
) -> None:
    proj = build_ml(tmp_path / "work", s3_remote)
    proj.ok("push", "origin", "main", "v1")
    deny_writes(s3_remote)
    before = remote_state(s3_remote)
    report = _du(proj, "--policy", "--keep-last 1")
    assert report["live"] > 0 and report["problems"] == []
    assert remote_state(s3_remote) == before


def test_du_reports_a_junk_pack_and_measures_the_rest(
    tmp_path: Path, remote_env: dict[str, str]
) -> None:
    store = tmp_path / "nas"
    target = RemoteTarget("dir", str(store), remote_env, root=store)
    proj = build_ml(tmp_path / "work", target)
    proj.ok("push", "origin", "main", "v1")
    good = _du(proj)
    junk = store / "packs" / f"{'ab' * 32}.pack"
    junk.write_bytes(os.urandom(5_000))
    (store / "packs" / "notes.txt").write_bytes(b"not a pack")
    result = proj.ok("remote", "du", "origin", "--json")
    report = result.json()
    assert report["live"] == good["live"]
    assert report["packs"] == good["packs"]  # the junk is a hole, not a pack
    assert any("ab" * 8 in p for p in report["problems"])
    assert "ab" * 8 in result.err


class _Catalog:
    def __init__(self, packs: dict[str, int], entry: PackEntry) -> None:
        self.packs = packs
        self.entry = entry

    def locate(self, oid: bytes) -> tuple[str, PackEntry] | None:
        return ("p", self.entry) if oid == self.entry.id else None


class _Remote:
    def __init__(self, catalog: _Catalog) -> None:
        self.catalog = catalog


def test_an_entry_never_counts_more_than_its_pack_holds() -> None:
    """A footer is a claim: an entry saying 4 GiB in a 1 KB pack counts 1 KB."""
    oid = ObjectId(b"\x01" * 32)
    entry = PackEntry(oid, ObjectType.BLOB, 0, 0, 4 << 30, 4 << 30)
    sizes = Sizes(cast(Any, _Remote(_Catalog({"p": 1_000}, entry))))
    assert sizes.of(oid) == 1_000
    assert sizes.of(b"\x02" * 32) == 0


def _append_forget(proj: Project, released: list[str], sign: bool = True) -> None:
    """A version 3 forget entry (issue 22 part A's format) appended to origin's ref log,
    signed by this user's key (trusted by :func:`_trust_own_key`) unless ``sign`` is False
    (then signed by a fresh key nobody trusts)."""
    import socket
    import time

    from dvault.remote.logentry import Action, LogEntry, entry_key
    from dvault.remote.logsign import push_signer
    from dvault.remote.session import Remote, pick_remote
    from dvault.repo import Repo

    with _in_env(proj.env):
        repo = Repo.open(proj.root)
        remote = Remote(repo, pick_remote(repo, "origin"))
        state = remote.log.load().state
        action = Action(
            "forget",
            {
                "branches": ["refs/heads/main"],
                "policy": {"keep_last": 1},
                "released": sorted(released),
                "released_refs": [],
            },
        )
        entry = LogEntry(
            state.seq + 1, state.head, (), time.time_ns(), "t", socket.gethostname(), action=action
        )
        signer = push_signer(repo, True)
        assert signer is not None
        remote.backend.create(entry_key(entry.seq), signer(entry).encode())


def _in_env(env: dict[str, str]) -> Any:
    import contextlib

    @contextlib.contextmanager
    def scope() -> Any:
        saved = dict(os.environ)
        os.environ.update(env)
        try:
            yield
        finally:
            os.environ.clear()
            os.environ.update(saved)

    return scope()


def _trust_own_key(proj: Project) -> None:
    from dvault.signing import allowed_signers_path

    proj.ok("key", "generate")
    line = proj.ok("key", "export").out.strip()
    with _in_env(proj.env):
        signers = allowed_signers_path()
    signers.parent.mkdir(parents=True, exist_ok=True)
    with open(signers, "a") as f:
        f.write(line + "\n")


def test_du_shows_what_trusted_forget_entries_release(
    tmp_path: Path, remote_env: dict[str, str]
) -> None:
    store = tmp_path / "nas"
    target = RemoteTarget("dir", str(store), remote_env, root=store)
    proj = build_ml(tmp_path / "work", target)
    proj.ok("push", "origin", "main", "v1")
    old = [
        commit_file(proj, "models/checkpoint.bin", os.urandom(400_000 + n), f"c{n}")
        for n in range(2)
    ]
    commit_file(proj, "models/checkpoint.bin", os.urandom(400_100), "newest")
    proj.ok("push", "origin", "main")
    assert _du(proj)["released"] is None

    _trust_own_key(proj)
    _append_forget(proj, old)
    report = _du(proj)
    released = report["released"]
    assert released["released"] == 2
    assert 800_000 <= released["frees"] < 900_000
    assert report["problems"] == []
    assert "released by forget, awaiting prune:" in proj.ok("remote", "du", "origin").out

    # an entry by a key nobody trusts releases nothing and is reported
    home = tmp_path / "other-home"
    home.mkdir()
    other = {"HOME": str(home), "DVAULT_CONFIG_DIR": str(home / ".config" / "dvault")}
    stranger = Project(proj.root, {**proj.env, **other})
    stranger.ok("key", "generate")
    _append_forget(stranger, [proj.head()])
    result = proj.ok("remote", "du", "origin", "--json")
    again = result.json()
    assert again["released"] == released  # the newest commit was not released
    assert any("not a trusted signer" in p for p in again["problems"])
    assert "not a trusted signer" in result.err


def test_du_counts_bytes_only_earlier_ref_values_need(remote: RemoteTarget, tmp_path: Path) -> None:
    proj = build_ml(tmp_path / "work", remote)
    proj.ok("push", "origin", "main", "v1")
    commit_file(proj, "data/wrong.bin", os.urandom(250_000), "a mistake")
    proj.ok("push", "origin", "main")
    proj.ok("reset", "--hard", "HEAD~1")
    proj.ok("push", "--force", "origin", "main")
    report = _du(proj)
    assert 250_000 <= report["former"] < 300_000  # kept until a forget releases it
    assert report["live"] + report["former"] + report["unreferenced"] == report["bytes"]


def test_du_reads_an_encrypted_remote_with_its_passphrase(
    tmp_path: Path, remote_env: dict[str, str]
) -> None:
    env = {**remote_env, "DVAULT_PASSPHRASE": "correct horse"}
    proj = Project(tmp_path / "work", env)
    proj.root.mkdir()
    proj.ok("init")
    commit_file(proj, "data/a.bin", os.urandom(200_000), "one")
    store = tmp_path / "enc"
    proj.ok("remote", "add", "--init", "--encrypt", "--kdf-cost", "16", "origin", str(store))
    proj.ok("push", "origin", "main")
    report = _du(proj)
    assert 200_000 <= report["live"] < 220_000  # plaintext sizes
    assert report["problems"] == [] and report["locks"] is None
    result = proj.run("remote", "du", "origin", env={**env, "DVAULT_PASSPHRASE": "wrong"})
    assert result.code == 2 and "wrong passphrase" in one_error_line(result)


class _LockedBackend:
    """Retention answers per pack: a date, a junk date, a refusal."""

    def retention(self, key: str) -> Any:
        from dvault.remote.backend import RemoteError, Retention

        if "/" + "aa" in key:
            return Retention("COMPLIANCE", "2027-01-05T10:00:00Z")
        if "/" + "bb" in key:
            return Retention("COMPLIANCE", "\x1b[31m2099")  # not a date: no lock shown
        raise RemoteError(f"remote x: cannot check the retention of {key}: 403 Forbidden")


def test_du_locks_one_refused_answer_never_stops_the_rest() -> None:
    from dvault.remote.usage import _locks

    class Remote:
        backend = _LockedBackend()
        catalog = _Catalog(
            {"a0" * 32: 3, "aa" * 32: 100, "bb" * 32: 10, "cc" * 32: 7},
            PackEntry(ObjectId(b"\0" * 32), ObjectType.BLOB, 0, 0, 0, 0),
        )

    problems: list[str] = []
    groups = _locks(cast(Any, Remote()), problems)
    assert groups is not None
    by_day = {(g.until, g.mode): (g.packs, g.bytes) for g in groups}
    # a0 (asked first) and cc are refused: two lines, the others still grouped
    assert by_day == {("2027-01-05", "COMPLIANCE"): (1, 100), (None, None): (1, 10)}
    assert len(problems) == 2 and all("403 Forbidden" in p for p in problems)
