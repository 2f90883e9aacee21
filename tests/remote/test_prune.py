"""``dvault prune``: frees what it reports and no byte a kept commit needs, plans before it
deletes, never deletes without the admin credential, and refuses a locked object naming
its retain-until date (directory remote and moto's S3 server)."""

from __future__ import annotations

import os
from pathlib import Path

from dvault import config as cfg
from dvault.hashing import ObjectType, object_id
from dvault.remote.logentry import Action
from tests.cli.helpers import Project, one_error_line
from tests.remote.conftest import RemoteTarget, build_ml, clone, commit_file, tree_digests
from tests.remote.prune_helpers import (
    append_action,
    forget,
    holds,
    read_back,
    redact,
    restores,
    stray_copy,
    trust_own_key,
)

ADMIN = {
    "DVAULT_ADMIN_AWS_ACCESS_KEY_ID": "admin",
    "DVAULT_ADMIN_AWS_SECRET_ACCESS_KEY": "admin",
}


def _admin_args(target: RemoteTarget) -> list[str]:
    return ["--admin"] if target.kind == "dir" else []


def _kept_sound(
    proj: Project, target: RemoteTarget, dest: Path, kept: dict[str, dict[str, str]]
) -> Project:
    """The issue's check after a prune: ``verify --remote --read-data`` is clean, and a
    fresh full clone restores every commit of ``kept`` (id -> sha256 by path, measured
    where it was made) byte for byte. Returns the clone."""
    proj.ok("verify", "--remote", "origin", "--read-data")
    other = clone(target, dest)
    for commit, expected in kept.items():
        restores(other, commit, expected)
    return other


def _history(
    tmp_path: Path, target: RemoteTarget, *remote_options: str
) -> tuple[Project, str, str, bytes]:
    """v1 (the ML project) and v2 (one big file dropped, one added), both pushed; returns
    (project, v1, v2, the dropped file's bytes)."""
    proj = build_ml(tmp_path / "work", target, *remote_options)
    trust_own_key(proj)
    proj.ok("push", "origin", "main", "--no-tags")  # the tag v1 stays local
    v1 = proj.head()
    dropped = (proj.root / "models" / "checkpoint.bin").read_bytes()
    proj.ok("rm", "models/checkpoint.bin")
    v2 = commit_file(proj, "models/small.bin", os.urandom(50_000), "v2: smaller model")
    proj.ok("push", "origin", "main", "--no-tags")
    return proj, v1, v2, dropped


def test_prune_frees_what_it_reports_and_keeps_every_kept_byte(
    tmp_path: Path, remote: RemoteTarget
) -> None:
    proj, v1, v2, dropped = _history(tmp_path, remote)
    at_v2 = tree_digests(proj.root)
    proj.env.update(ADMIN)
    before = sum(remote.packs().values())
    forget(proj, [v1])
    dry = proj.ok("prune", "origin", "--dry-run", "--json").json()
    assert dry["bytes_to_free"] > 0 and remote.packs() and sum(remote.packs().values()) == before
    done = proj.ok("prune", "origin", "--grace", "0", "--json", *_admin_args(remote)).json()
    after = sum(remote.packs().values())
    added = sum(
        size
        for key, size in remote.packs().items()
        if key.split("/")[-1][:-5] in done["packs_added"]
    )
    assert done["deleted"] and before - after == done["bytes_freed"] - added
    assert done["bytes_freed"] >= len(dropped)
    # no remote byte holds the dropped model any more; the kept commit restores whole
    for key in remote.packs():
        assert not holds(remote.read(key), dropped)
    # every object of the kept commit reads back from the remote and verifies, and v1's
    # pruned contents are "released", not missing
    assert read_back(proj, v2) > 5
    other = _kept_sound(proj, remote, tmp_path / "other", {v2: at_v2})
    assert f"commit {v1[:12]}: released by forget on " in other.ok("verify", "--read-data").out
    again = proj.ok("prune", "origin", "--dry-run", "--json").json()
    assert again["bytes_to_free"] == 0


def test_prune_without_the_admin_credential_changes_nothing(
    tmp_path: Path, remote: RemoteTarget
) -> None:
    proj, v1, _v2, _dropped = _history(tmp_path, remote)
    forget(proj, [v1])
    packs, log = remote.packs(), remote.log_keys()
    result = proj.run("prune", "origin", "--grace", "0")
    assert result.code == 2 and "admin" in one_error_line(result)
    assert remote.packs() == packs and remote.log_keys() == log


def test_plan_waits_for_its_grace_and_pushers_reupload(
    tmp_path: Path, remote: RemoteTarget
) -> None:
    """Phase 1 alone deletes nothing; a push after the plan does not count on planned packs."""
    proj, v1, _v2, dropped = _history(tmp_path, remote)
    proj.env.update(ADMIN)
    forget(proj, [v1])
    packs = remote.packs()
    first = proj.ok("prune", "origin", *_admin_args(remote), "--json").json()
    assert first["planned_seq"] is not None and not first["deleted"] and first["plans_waiting"]
    assert set(packs) <= set(remote.packs())
    # v3 brings back the very bytes the plan's packs hold: the push must not lose them
    v3 = commit_file(proj, "models/checkpoint.bin", dropped, "v3: the old model is back")
    at_v3 = tree_digests(proj.root)
    proj.ok("push", "origin", "main", "--no-tags")
    done = proj.ok("prune", "origin", "--grace", "0", *_admin_args(remote), "--json").json()
    assert first["planned_seq"] in done["plans_executed"]
    assert read_back(proj, v3) > 5
    _kept_sound(proj, remote, tmp_path / "other", {v3: at_v3})


def test_prune_refuses_a_locked_pack_and_says_until_when(
    tmp_path: Path, s3_remote: RemoteTarget
) -> None:
    """Object Lock retention is asked of S3 (HeadObject) when planning and again before
    each delete: a pack still locked is neither planned nor repacked, its retain-until
    date is said, and every run asks again."""
    proj, v1, _v2, _ = _history(tmp_path, s3_remote, "--retention", "1")
    proj.env.update(ADMIN)
    forget(proj, [v1])
    packs = s3_remote.packs()
    dry = proj.ok("prune", "origin", "--dry-run", "--json").json()
    done = proj.ok("prune", "origin", "--grace", "0", "--json").json()
    assert not done["deleted"] and done["bytes_freed"] == 0 and done["planned_seq"] is None
    locked = [line for line in done["kept"] if "Object Lock COMPLIANCE retention until" in line]
    assert locked and dry["kept"] == locked  # asked of S3, even by a dry run
    until = s3_remote.head(next(iter(packs)))["ObjectLockRetainUntilDate"]
    assert until.strftime("%Y-%m-%dT%H:%M") in locked[0]
    assert set(packs) <= set(s3_remote.packs())
    text = proj.ok("prune", "origin", "--grace", "0").out
    assert "retention until" in text and "deleted 0 pack(s)" in text


def test_only_the_admin_module_can_delete() -> None:
    """The pusher credential cannot prune because dvault never issues a delete except
    through remote/admin.py, which opens only the admin credential (moto enforces no IAM
    deny, so this is what a test can prove; docs/retention.md has the IAM policies)."""
    root = Path(__file__).resolve().parents[2] / "dvault"
    callers = sorted(
        str(path.relative_to(root))
        for path in root.rglob("*.py")
        if "delete_object" in path.read_text() or "DeleteObject" in path.read_text()
    )
    assert callers == ["remote/admin.py"]


def test_prune_on_an_encrypted_remote(tmp_path: Path, remote: RemoteTarget) -> None:
    """Names are encrypted on the remote: the admin deletes the stored name of each pack,
    and what a kept commit needs still decrypts and verifies."""
    remote.env["DVAULT_PASSPHRASE"] = "correct horse battery staple"
    proj, v1, v2, _dropped = _history(tmp_path, remote, "--encrypt", "--kdf-cost", "16")
    at_v2 = tree_digests(proj.root)
    proj.env.update(ADMIN)
    stored = remote.keys("packs/")
    assert stored and not remote.packs()  # no plaintext pack name on the remote
    forget(proj, [v1])
    done = proj.ok("prune", "origin", "--grace", "0", "--json", *_admin_args(remote)).json()
    gone = set(stored) - set(remote.keys("packs/"))
    assert done["deleted"] and len(gone) == len(done["deleted"])
    assert read_back(proj, v2) > 5
    _kept_sound(proj, remote, tmp_path / "other", {v2: at_v2})
    assert proj.ok("prune", "origin", "--dry-run", "--json").json()["bytes_to_free"] == 0


def _local_config(proj: Project, section: dict[str, str]) -> None:
    """``[remote.origin]`` of .dvault/config.local (a remote there repeats its url)."""
    url = cfg.load(proj.root / ".dvault" / "config")["remote"]["origin"]["url"]
    path = proj.root / ".dvault" / cfg.LOCAL_FILE
    config = cfg.load(path)
    config.setdefault("remote", {})["origin"] = {"url": url, **section}
    cfg.save(path, config)


def test_the_admin_profile_comes_from_the_local_config(
    tmp_path: Path, s3_remote: RemoteTarget
) -> None:
    """``admin_profile`` in .dvault/config.local names the admin's AWS profile; one naming
    the pusher's own profile is refused (one line, exit 2, nothing written)."""
    aws = tmp_path / "aws-credentials"
    aws.write_text(
        "[pusher]\naws_access_key_id = p\naws_secret_access_key = p\n"
        "[admin]\naws_access_key_id = a\naws_secret_access_key = a\n"
    )
    s3_remote.env["AWS_SHARED_CREDENTIALS_FILE"] = str(aws)
    proj, v1, v2, _ = _history(tmp_path, s3_remote, "--profile", "pusher")
    forget(proj, [v1])
    log = s3_remote.log_keys()
    _local_config(proj, {"admin_profile": "pusher"})
    same = proj.run("prune", "origin", "--grace", "0")
    assert same.code == 2 and "separate identity" in one_error_line(same)
    assert s3_remote.log_keys() == log
    _local_config(proj, {"admin_profile": "admin"})
    done = proj.ok("prune", "origin", "--grace", "0", "--json").json()
    assert done["deleted"] and read_back(proj, v2) > 5


def test_prune_deletes_what_a_redaction_erased(tmp_path: Path, remote: RemoteTarget) -> None:
    """A trusted redact entry (part C's format) naming a file's blob in the kept commit:
    prune repacks its pack without it; the bytes are in no remote object afterwards, and
    every other object of the commit reads back and verifies."""
    proj, _v1, v2, _ = _history(tmp_path, remote)
    at_v2 = tree_digests(proj.root)
    proj.env.update(ADMIN)
    secret = (proj.root / "models" / "small.bin").read_bytes()
    blob = object_id(ObjectType.BLOB, secret)
    redact(proj, v2, [blob.hex()])
    done = proj.ok("prune", "origin", "--grace", "0", "--json", *_admin_args(remote)).json()
    assert done["deleted"]
    for key in remote.packs():
        assert not holds(remote.read(key), secret)
    assert read_back(proj, v2, skip=frozenset({blob})) > 5
    report = proj.ok("verify", "--remote", "origin", "--read-data", "--json").json()
    assert report["ok"] and report["redacted"] == 1
    other = clone(remote, tmp_path / "other")  # checks out v2 but the erased file
    assert tree_digests(other.root) == {k: v for k, v in at_v2.items() if k != "models/small.bin"}
    assert "redacted (1 objects" in other.ok("verify", "--read-data").out


def test_two_open_plans_never_delete_both_copies(tmp_path: Path, remote: RemoteTarget) -> None:
    """Two plans due in one run, each naming one of two packs holding the same live
    objects: the copy in the other planned pack does not count, so one pack stays."""
    proj, _v1, v2, _ = _history(tmp_path, remote)
    proj.env.update(ADMIN)
    original, copy = stray_copy(proj)
    append_action(proj, Action("prune-plan", {"delete": [original], "added": []}))
    append_action(proj, Action("prune-plan", {"delete": [copy], "added": []}))
    done = proj.ok("prune", "origin", "--grace", "0", "--json", *_admin_args(remote)).json()
    assert len(done["plans_executed"]) >= 2
    assert (original in done["deleted"]) != (copy in done["deleted"])
    assert read_back(proj, v2) > 5
    proj.ok("verify", "--remote", "origin", "--read-data")
