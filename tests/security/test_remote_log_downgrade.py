"""Issue 17, item 11: an encryption downgrade for new clones.

The remote says itself whether it is encrypted (its marker), so whoever can replace the
marker and the first ref-log entry (a pusher on a bucket whose policy lets a plain
PutObject overwrite, or the storage provider) can offer a plain remote in its place: a
new teammate's clone asks for no passphrase, and their pushes land in clear. Defences:
``clone --encrypted`` / ``--key-id``; a user-level record of remotes once known encrypted
(like ssh's known_hosts); and, for git-based onboarding, the committed ``.dvault/config``
carrying ``encrypt``/``key_id``."""

from __future__ import annotations

import shutil
import subprocess
import tomllib
from pathlib import Path

import pytest

from tests.cli.helpers import Project, base_env, one_error_line
from tests.remote.conftest import AWS_ENV, moto_server, new_bucket, s3_client

from ._reflog_helpers import GIT_ID, Owner, isolated_env

__all__ = ["moto_server"]

PASSPHRASE = {"DVAULT_PASSPHRASE": "correct horse battery"}


def _env(home: Path) -> dict[str, str]:
    """Another user's environment (their own dvault directory, so no known remotes)."""
    home.mkdir(parents=True, exist_ok=True)
    return {**base_env(home), **AWS_ENV, **PASSPHRASE, **GIT_ID}


@pytest.fixture
def owner_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    monkeypatch.setenv("DVAULT_PASSPHRASE", PASSPHRASE["DVAULT_PASSPHRASE"])
    return {**isolated_env(tmp_path / "owner-home", monkeypatch), **PASSPHRASE}


def _evil_remote(tmp_path: Path) -> Path:
    """A plain remote holding the attacker's data (made with dvault, so it is valid)."""
    evil = Owner(tmp_path / "evil", str(tmp_path / "evil.r"))
    evil.commit("attacker's data\n")
    evil.push()
    return tmp_path / "evil.r"


def _key_id(root: Path) -> str:
    config = tomllib.loads((root / ".dvault" / "config").read_text())
    return str(config["remote"]["origin"]["key_id"])


def test_a_plain_remote_in_place_of_an_encrypted_one_is_refused(
    tmp_path: Path, moto_server: str, owner_env: dict[str, str]
) -> None:
    """A pusher overwrites the marker, entry 0 and adds plain packs (plain PutObject on a
    bucket without versioning). clone --encrypted and --key-id refuse it; so does a user
    who once used it as encrypted, with no flag at all; nothing is created."""
    client = s3_client(moto_server)
    bucket = new_bucket(client, lock=False)
    url, options = f"s3://{bucket}/proj", ["--endpoint", moto_server]
    owner = Owner(tmp_path / "owner", url, endpoint=moto_server, encrypt=True, kdf_cost=16)
    owner.push()
    key_id = _key_id(owner.root)
    teammate = Project(tmp_path, _env(tmp_path / "teammate-home"))
    teammate.ok("clone", url, str(tmp_path / "before"), *options)  # records it as encrypted

    evil = _evil_remote(tmp_path)
    for path in evil.rglob("*"):
        if path.is_file() and "tmp" not in path.relative_to(evil).parts:
            key = "proj/" + path.relative_to(evil).as_posix()
            client.put_object(Bucket=bucket, Key=key, Body=path.read_bytes())  # overwrite

    result = teammate.run("clone", url, str(tmp_path / "again"), *options)  # no flag
    assert result.code == 3, result.describe()
    line = one_error_line(result)
    assert f"was encrypted (key {key_id[:8]}) when you last used it" in line
    assert "known-remotes" in line and not (tmp_path / "again").exists()
    newcomer = Project(tmp_path, _env(tmp_path / "other-newcomer-home"))  # knows nothing
    for flags in (["--encrypted"], ["--key-id", key_id]):
        result = newcomer.run("clone", url, str(tmp_path / "new"), *options, *flags)
        assert result.code == 3, result.describe()
        assert "configured as encrypted but is not set up as one" in one_error_line(result)
        assert not (tmp_path / "new").exists()
    result = Project(owner.root, owner_env).run("push")  # its own config pins it too
    assert result.code == 3 and "configured as encrypted" in one_error_line(result)


def test_git_onboarding_honours_the_committed_encryption(
    tmp_path: Path, owner_env: dict[str, str]
) -> None:
    """A teammate who joins through git (git clone, then dvault pull) gets the remote's
    encrypt/key_id from the committed .dvault/config: a plain remote in its place is
    refused, nothing is checked out, and their push sends nothing in clear. (This held
    before issue 17; ``clone --key-id`` of the intact remote is the new part.)"""
    remote = tmp_path / "remote"
    owner = Owner(tmp_path / "owner", str(remote), git=True, encrypt=True, kdf_cost=16)
    owner.push()
    owner.git("add", ".dvault/config", ".dvault/.gitignore", ".gitignore", "dvault.lock")
    owner.git("commit", "-qm", "data")
    direct = Project(tmp_path, _env(tmp_path / "direct-home"))  # the intact remote is taken
    direct.ok("clone", str(remote), str(tmp_path / "pinned"), "--key-id", _key_id(owner.root))

    evil = _evil_remote(tmp_path)
    shutil.rmtree(remote)  # the storage now serves a plain remote at the same place
    shutil.copytree(evil, remote)
    env = _env(tmp_path / "teammate-home")
    mate_root = tmp_path / "mate"
    subprocess.run(["git", "clone", "-q", str(owner.root), str(mate_root)], check=True, env=env)
    mate = Project(mate_root, env)
    result = mate.run("pull")
    assert result.code == 3, result.describe()
    assert "configured as encrypted but is not set up as one" in one_error_line(result)
    assert not (mate.root / "data").exists()
    before = sorted(p.name for p in (remote / "packs").iterdir())
    mate.write("data/b.txt", "mine\n")
    mate.ok("add", "data")
    mate.commit("mine")
    assert mate.run("push").code == 3
    assert sorted(p.name for p in (remote / "packs").iterdir()) == before


@pytest.mark.parametrize("bad", ["abc", "g" * 32])
def test_clone_key_id_must_be_a_key_id(tmp_path: Path, bad: str) -> None:
    result = Project(tmp_path, _env(tmp_path / "home")).run(
        "clone", str(tmp_path / "r"), str(tmp_path / "c"), "--key-id", bad
    )
    assert result.code == 2 and "--key-id takes the 32 hex digits" in one_error_line(result)
