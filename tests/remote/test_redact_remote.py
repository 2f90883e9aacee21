"""``dvault redact --remote``: a signed redact entry in the ref log (directory and S3),
verify says redacted, and a forged or untrusted redact entry erases nothing."""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

import dvault
from dvault.commitobjects import Signature
from dvault.errors import ObjectErased
from dvault.remote.logentry import Action, LogEntry, entry_key
from dvault.remote.redaction import erased_objects, redactions
from dvault.remote.session import Remote, pick_remote
from dvault.repo import Repo
from dvault.signing import trusted_signers
from dvault.store.erased import path_hash
from tests.cli.helpers import Project

from .conftest import RemoteTarget, clone, new_project, tree_digests
from .prune_helpers import every_stored_object, restores, trust_own_key

ADMIN = {
    "DVAULT_ADMIN_AWS_ACCESS_KEY_ID": "admin",
    "DVAULT_ADMIN_AWS_SECRET_ACCESS_KEY": "admin",
}

SECRET = b"name,email\nAda,ada@example.org\n" + os.urandom(4000)


def _pushed(tmp_path: Path, remote: RemoteTarget) -> Project:
    proj = new_project(tmp_path / "work", remote.env)
    proj.write("data/people.csv", SECRET)
    proj.write("data/keep.bin", os.urandom(3000))
    proj.ok("add", "data")
    proj.ok("commit", "-m", "v1")
    proj.ok("rm", "data/people.csv")
    proj.ok("commit", "-m", "v2")
    proj.ok(*remote.add_args("origin"))
    proj.ok("push", "origin", "main")
    return proj


def _create(remote: RemoteTarget, key: str, data: bytes) -> None:
    """Write a new object behind dvault's back (what a pusher's credential can do)."""
    if remote.kind == "dir":
        assert remote.root is not None
        (remote.root / key).write_bytes(data)
    else:
        remote.replace(key, data)


def _view(proj: Project, monkeypatch: pytest.MonkeyPatch) -> tuple[Repo, Remote]:
    for name, value in proj.env.items():
        monkeypatch.setenv(name, value)
    repo = Repo.open(proj.root)
    return repo, Remote(repo, pick_remote(repo, "origin"))


def test_redact_remote_appends_a_signed_entry(
    tmp_path: Path, remote: RemoteTarget, monkeypatch: pytest.MonkeyPatch
) -> None:
    proj = _pushed(tmp_path, remote)
    proj.ok("key", "generate")
    line = proj.ok("key", "export").out  # trusted by this user (allowed_signers)
    signers = Path(proj.env["DVAULT_CONFIG_DIR"]) / "allowed_signers"
    signers.write_text(line)
    before = remote.log_keys()
    out = proj.ok(
        "redact", "data/people.csv", "--reason", "GDPR request 42", "--remote", "origin"
    ).out
    assert "recorded as signed ref-log entry" in out
    after = remote.log_keys()
    assert len(after) == len(before) + 1
    raw = remote.read(after[-1])
    assert b"people.csv" not in raw and SECRET[-100:] not in raw
    value = json.loads(raw)
    assert value["version"] == 3 and value["updates"] == [] and "signature" in value
    action = value["action"]
    assert action["kind"] == "redact" and action["reason"] == "GDPR request 42"
    assert action["path_hashes"] == [path_hash("data/people.csv")] and action["objects"]
    # the local packs no longer hold the bytes; every other file restores
    packs = (proj.root / ".dvault" / "packs").glob("*.pack")
    assert not any(SECRET[-200:] in p.read_bytes() for p in packs)
    proj.ok("checkout", "HEAD~1", "--", "data/keep.bin")
    # repair never re-fetches an erased object from the remote that still holds it
    proj.ok("repair")
    packs = (proj.root / ".dvault" / "packs").glob("*.pack")
    assert not any(SECRET[-200:] in p.read_bytes() for p in packs)
    verified = proj.ok("verify", "--remote", "origin").out
    assert "redactions by trusted signers in entries" in verified
    repo, rem = _view(proj, monkeypatch)
    with repo:
        view = rem.log.load(full=True)
        trusted = set(trusted_signers(repo.root).names)
        assert {o.hex() for o in erased_objects(view, trusted)} == set(action["objects"])
        # a clone that trusts nobody acts on nothing
        assert erased_objects(view, set()) == set()
    # read in place by URL, before any prune: the erased file is never served
    where = {"remote": remote.url, "endpoint": remote.endpoint, "cache_dir": tmp_path / "c"}
    with dvault.open("data/keep.bin", "main~1", **where) as f:  # type: ignore[arg-type]
        assert len(f.read()) == 3000
    with pytest.raises(ObjectErased, match=r"^data/people.csv: erased on .*GDPR request 42"):
        dvault.open("data/people.csv", "main~1", **where)  # type: ignore[arg-type]


def test_forged_redact_entries_erase_nothing(
    tmp_path: Path, remote: RemoteTarget, monkeypatch: pytest.MonkeyPatch
) -> None:
    proj = _pushed(tmp_path, remote)
    repo, rem = _view(proj, monkeypatch)
    with repo:
        state = rem.log.load().state
        target = bytes.fromhex(state.refs["refs/heads/main"]).hex()
        action = Action(
            "redact",
            {"commits": [target], "objects": [target], "path_hashes": [], "reason": "x\x1b[2J"},
        )
        entry = LogEntry(state.seq + 1, state.head, (), 1, "mallory", "h", action=action)
        # signed by a key nobody trusts: chains, but is refused and reported
        key = Ed25519PrivateKey.generate()
        public = key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        signed = dataclasses.replace(
            entry, signature=Signature(public, key.sign(entry.signed_message()))
        )
        _create(remote, entry_key(entry.seq), signed.encode())
        view = rem.log.load(full=True)
        found, refused = redactions(view, set(trusted_signers(repo.root).names))
        assert not found and len(refused) == 1 and "erases nothing" in refused[0]
        assert erased_objects(view, set(trusted_signers(repo.root).names)) == set()
    # unsigned: a hole, reported by verify; nothing is erased
    unsigned = LogEntry(state.seq + 2, "0" * 64, (), 1, "mallory", "h", action=action)
    _create(remote, entry_key(unsigned.seq), unsigned.encode())
    result = proj.run("verify", "--remote", "origin")
    assert "erases nothing" in result.err and "\x1b" not in result.err + result.out
    assert "unsigned action entry" in result.err + result.out
    assert not (proj.root / ".dvault" / "erased.json").exists()
    proj.ok("checkout", "HEAD~1", "--", "data/people.csv")
    assert (proj.root / "data" / "people.csv").read_bytes() == SECRET


def test_a_clone_made_after_the_redaction_never_fetches_the_bytes(
    tmp_path: Path, remote: RemoteTarget
) -> None:
    """Before any prune the remote still holds the bytes: a clone that trusts the
    redaction's signer records it and does not fetch them; every other file restores."""
    proj = _pushed(tmp_path, remote)
    proj.ok("key", "generate")
    signers = Path(proj.env["DVAULT_CONFIG_DIR"]) / "allowed_signers"
    signers.write_text(proj.ok("key", "export").out)
    proj.ok("redact", "data/people.csv", "--reason", "GDPR request 42", "--remote", "origin")
    other = clone(remote, tmp_path / "other")
    packs = (other.root / ".dvault" / "packs").glob("*.pack")
    assert not any(SECRET[-200:] in p.read_bytes() for p in packs)
    result = other.run("checkout", "HEAD~1")
    assert result.code == 1 and "data/people.csv: erased on " in result.err
    assert len((other.root / "data" / "keep.bin").read_bytes()) == 3000
    assert "redacted (1 objects" in other.ok("verify").out


def test_redact_then_prune_removes_the_bytes_and_every_other_file_restores(
    tmp_path: Path, remote: RemoteTarget
) -> None:
    """The issue's Done-when, through the CLI: ``redact --remote`` then ``prune`` (admin):
    the file's bytes are in no object the remote stores (raw, every S3 version too);
    ``verify --remote --read-data`` is clean and says redacted; a fresh clone restores
    every other file of every kept commit byte for byte, says "erased on DATE by USER:
    REASON" for the erased one, and the signed ref-log entry names who erased what."""
    proj = _pushed(tmp_path, remote)
    trust_own_key(proj)
    digests = {}
    for rev in ("main~1", "main"):
        proj.ok("checkout", rev)
        digests[proj.head()] = tree_digests(proj.root)
    proj.ok("checkout", "main")
    v1, v2 = list(digests)
    proj.ok("redact", "data/people.csv", "--reason", "GDPR request 42", "--remote", "origin")
    # the search can fail: before prune the remote still holds the bytes
    assert any(SECRET[-200:] in raw for _key, raw in every_stored_object(remote))
    proj.env.update(ADMIN)
    admin = ["--admin"] if remote.kind == "dir" else []
    done = proj.ok("prune", "origin", "--grace", "0", "--json", *admin).json()
    assert done["deleted"]
    for key, raw in every_stored_object(remote):
        assert SECRET[-200:] not in raw, key
    result = proj.ok("verify", "--remote", "origin", "--read-data", "--json").json()
    assert result["ok"] and result["redacted"] >= 1 and result["log"]["redactions"]
    other = clone(remote, tmp_path / "other")
    restores(other, v2, digests[v2])
    partial = other.run("checkout", v1)
    assert partial.code == 1 and "data/people.csv: erased on " in partial.err
    assert "GDPR request 42" in partial.err
    expected = {k: v for k, v in digests[v1].items() if k != "data/people.csv"}
    assert tree_digests(other.root) == expected
    assert "redacted (1 objects" in other.ok("verify", "--read-data").out
    lineage = other.ok("lineage", v1).out
    assert "altered by a redaction: erased on " in lineage and "GDPR request 42" in lineage
    # the ref log: one signed entry by a trusted key, naming who, why and the objects
    entries = [json.loads(remote.read(key)) for key in remote.log_keys()]
    redacts = [e for e in entries if e.get("action", {}).get("kind") == "redact"]
    assert len(redacts) == 1 and "signature" in redacts[0]
    entry = redacts[0]
    assert (
        entry["user"] == "Test <t@example.com>" and entry["action"]["reason"] == "GDPR request 42"
    )
    assert entry["action"]["path_hashes"] == [path_hash("data/people.csv")]
    assert entry["action"]["commits"] == [v1]
