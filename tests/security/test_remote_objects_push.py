"""Issue 17, item 8: push must not take a remote's word that it holds the data.

Each test performs the attack for real against a remote through the real ``dvault`` CLI:
an attacker who may only create files on the remote (what the documented pusher
credential, or create rights on a directory, grants) makes the remote *claim* to hold a
victim's data; the victim's push must still leave a remote a fresh clone restores from.
"""

from __future__ import annotations

from pathlib import Path

from dvault.remote.directory import DirectoryBackend
from tests.remote.conftest import local_packs, moto_server, remote_env, s3_target
from tests.security._remote_objects_helpers import (
    PUBLIC,
    append_entry,
    blob_id,
    clone_run,
    junk_pack,
    predicted_footer_pack,
    same_data,
    small_project,
)

__all__ = ["moto_server", "remote_env"]  # fixtures, re-exported for pytest


def test_push_does_not_trust_a_ref_log_entry_naming_its_commit(
    tmp_path: Path, remote_env: dict[str, str]
) -> None:
    """The commit id leaked (a ``dvault.lock`` pushed to git before the data); the attacker
    appends a valid ref-log entry naming it. Push used to skip everything that commit
    reaches and report success for a remote that could not restore it."""
    root = tmp_path / "nas" / "remote"
    proj = small_project(tmp_path / "work", remote_env, str(root))
    commit = proj.head()
    append_entry(DirectoryBackend(root), tmp_path / "attacker", f"refs/pins/{commit}", commit)

    proj.ok("push")
    copy, _ = clone_run(str(root), tmp_path / "copy", remote_env)
    assert same_data(proj, copy)
    copy.ok("verify", "--remote", "origin", "--read-data")


def test_push_does_not_trust_a_pack_that_took_its_packs_name(
    tmp_path: Path, remote_env: dict[str, str]
) -> None:
    """The attacker predicts a pack's footer (the ids and sizes of what it holds: a public
    file's chunks) and writes junk data behind it under the name that footer hashes to
    (the name packs had before issue 17). Push used to see the name taken and skip the
    upload; now a pack is named by all its bytes, and a name already taken is trusted only
    after reading that copy whole."""
    root = tmp_path / "nas" / "remote"
    proj = small_project(tmp_path / "work", remote_env, str(root))
    for local in local_packs(proj.root):  # every pack the push needs, taken beforehand
        predicted_footer_pack(proj.root / ".dvault" / "packs" / local, root / "packs")

    proj.ok("push")
    copy, _ = clone_run(str(root), tmp_path / "copy", remote_env)
    assert same_data(proj, copy)


def test_a_junk_pack_listing_a_public_files_id_fools_neither_push_nor_clone(
    moto_server: str, remote_env: dict[str, str], tmp_path: Path
) -> None:
    """A pack that lists the id of a public file (anyone can compute it) with junk bytes,
    its name ground to sort before the victim's packs (S3 lists in key order): push must
    still upload the victim's copy, and clone must fall back to it when the junk copy
    fails its hash, reporting the junk pack; ``verify --remote --read-data`` lists it."""
    target = s3_target(moto_server, remote_env)
    proj = small_project(tmp_path / "work", remote_env, target.url, *target.options)
    first = min(name[: -len(".pack")] for name in local_packs(proj.root))
    junk = junk_pack(tmp_path, blob_id(PUBLIC), len(PUBLIC), below=first)
    target.client.put_object(
        Bucket=target.bucket,
        Key=f"{target.prefix}packs/{junk.name}",
        Body=junk.read_bytes(),
        IfNoneMatch="*",
    )

    proj.ok("push")
    copy, err = clone_run(target.url, tmp_path / "copy", remote_env, *target.options)
    assert same_data(proj, copy)
    assert junk.stem[:16] in err  # the junk pack is named, once
    result = copy.run("verify", "--remote", "origin", "--read-data")
    assert result.code == 1, result.describe()
    assert junk.stem[:16] in result.err
    assert "another pack holds it intact" in result.err


def test_packs_already_on_the_remote_are_confirmed_by_digest_not_resent(
    tmp_path: Path, remote_env: dict[str, str]
) -> None:
    """A clone that knows nothing it confirmed (pushed with an older dvault, or its cache
    lost) confirms the packs already on the remote by comparing digests (no upload, no
    download), and sends only what is new."""
    root = tmp_path / "nas" / "remote"
    proj = small_project(tmp_path / "work", remote_env, str(root))
    proj.ok("push")
    (proj.root / ".dvault" / "remotes" / "origin" / "confirmed.json").unlink()
    pushed = set(local_packs(proj.root))
    proj.write("data/private/a.bin", b"changed")
    proj.ok("commit", "-a", "-m", "v2")
    new = set(local_packs(proj.root)) - pushed
    report = proj.ok("push", "--json").json()
    assert report["packs_sent"] == len(new), report
    assert report["packs_skipped"] >= 1, report
    copy, _ = clone_run(str(root), tmp_path / "copy", remote_env)
    assert same_data(proj, copy)
