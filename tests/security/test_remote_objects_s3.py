"""Issue 17, item 7: the pusher credential can overwrite any S3 object.

Create-only is a header the client chooses to send: a credential allowed a plain
``PutObject`` (as the pusher policy documented before issue 17 was) makes a new *current*
version of any key. Each test does that for real on moto's S3 server, on an Object Lock
bucket (versioned), and shows a fresh clone and ``verify --remote`` are not fooled: the
first version of a create-only key is the one read, and the replacement is reported.
The server-side half (the bucket policy that refuses such a put on AWS) is checked against
the documented policy in docs/remotes.md: moto does not evaluate request-header conditions.
"""

from __future__ import annotations

import datetime
import json
import re
from pathlib import Path
from typing import Any

from blake3 import blake3

from tests.cli.helpers import Project
from tests.remote.conftest import RemoteTarget, local_packs, moto_server, remote_env, s3_target
from tests.security._remote_objects_helpers import (
    clone_run,
    committed,
    forged_entry,
    genesis_entry,
    same_data,
)

__all__ = ["moto_server", "remote_env"]  # fixtures, re-exported for pytest

DOCS = Path(__file__).resolve().parents[2] / "docs" / "remotes.md"


def _project(root: Path, env: dict[str, str], target: RemoteTarget, *extra: str) -> Project:
    files = {"data/labels.csv": b"file,label\na.bin,3\n", "data/images/a.bin": bytes(256) * 300}
    committed(root, files)
    proj = Project(root, env)
    proj.ok("remote", "add", "--init", "origin", target.url, *target.options, *extra)
    return proj


def _upload_packs(target: RemoteTarget, root: Path) -> None:
    """The attacker's own packs, created on the remote (create-only: allowed anyway)."""
    for name in local_packs(root):
        body = (root / ".dvault" / "packs" / name).read_bytes()
        target.client.put_object(
            Bucket=target.bucket, Key=f"{target.prefix}packs/{name}", Body=body, IfNoneMatch="*"
        )


def _main_stays_protected(target: RemoteTarget, v1: str, evil: str, clone: Project) -> None:
    """The attacker appends (create-only: allowed) an entry force-moving main from ``v1``
    to ``evil``: the clone reads the marker's first version, where main is protected, so
    its fetch refuses the entry and keeps main where it was."""
    first = target.read_version("refs/log/0000000000000000.json", -1)
    rewind = forged_entry(1, blake3(first).hexdigest(), "refs/heads/main", v1, evil, force=True)
    target.client.put_object(
        Bucket=target.bucket,
        Key=f"{target.prefix}refs/log/0000000000000001.json",
        Body=rewind,
        IfNoneMatch="*",
    )
    result = clone.run("fetch")
    assert "protected" in result.err, result.describe()
    tracked = clone.root / ".dvault" / "refs" / "remotes" / "origin" / "main"
    assert tracked.read_text() == v1 + "\n"


def test_a_plain_put_over_ref_log_marker_and_pack_does_not_fool_a_fresh_clone(
    moto_server: str, remote_env: dict[str, str], tmp_path: Path
) -> None:
    target = s3_target(moto_server, remote_env)
    proj = _project(tmp_path / "work", remote_env, target, "--protect", "main")
    proj.ok("push")
    # the attacker's poisoned version of the same paths, its packs created on the remote
    evil = committed(tmp_path / "evil", {"data/labels.csv": b"file,label\na.bin,7\n"}, "poison")
    _upload_packs(target, tmp_path / "evil")
    # ... and a plain PutObject (no If-None-Match) over three create-only keys: a pack
    # (junk behind its footer), the only ref-log entry (main -> the poisoned commit) and
    # the marker (main no longer protected)
    pack = f"packs/{min(local_packs(proj.root))}"
    honest = target.read(pack)
    footer_offset = int.from_bytes(honest[-56:-48], "big")
    target.replace(pack, honest[:8] + bytes(footer_offset - 8) + honest[footer_offset:])
    target.replace("refs/log/0000000000000000.json", genesis_entry("refs/heads/main", evil))
    target.replace("dvault-remote.json", b'{"format":1,"kind":"dvault-remote"}\n')

    copy, err = clone_run(target.url, tmp_path / "copy", remote_env, *target.options)
    assert same_data(proj, copy)  # the honest data, not the poisoned labels
    for key in ("refs/log/0000000000000000.json", "dvault-remote.json", pack):
        assert f"{key} was written 2 times" in err, err
    result = copy.run("verify", "--remote", "origin")
    assert result.code == 1, result.describe()
    for key in ("refs/log/0000000000000000.json", "dvault-remote.json", pack):
        assert f"{key} was written 2 times" in result.err
    # the marker read is the first one: main is still protected, so a forced entry the
    # attacker appends (create-only: allowed) is not followed by the fresh clone
    _main_stays_protected(target, proj.head(), evil, copy)


def _retain_until(head: dict[str, Any]) -> datetime.datetime:
    until = head["ObjectLockRetainUntilDate"]
    assert isinstance(until, datetime.datetime)
    return until


def test_retention_comes_from_the_buckets_default_not_from_the_pusher(
    moto_server: str, remote_env: dict[str, str], tmp_path: Path
) -> None:
    """With a bucket default retention covering ``--retention``, dvault sends no
    per-object retain-until date (the pusher needs no ``s3:PutObjectRetention``, so a
    leaked one cannot lock junk for a century): every object is locked by the default."""
    target = s3_target(moto_server, remote_env)
    target.client.put_object_lock_configuration(
        Bucket=target.bucket,
        ObjectLockConfiguration={
            "ObjectLockEnabled": "Enabled",
            "Rule": {"DefaultRetention": {"Mode": "COMPLIANCE", "Days": 10}},
        },
    )
    start = datetime.datetime.now(datetime.UTC)
    proj = _project(tmp_path / "work", remote_env, target, "--retention", "7")
    proj.ok("push")
    for key in target.keys():  # noqa: SIM118 (not a dict)
        head = target.head(key)
        assert head.get("ObjectLockMode") == "COMPLIANCE", key
        # the bucket's 10 days, not a 7-day date the client would have set itself
        assert _retain_until(head) >= start + datetime.timedelta(days=9), key


def _json_blocks(markdown: str, after: str) -> list[Any]:
    section = markdown[markdown.index(after) :]
    return [json.loads(block) for block in re.findall(r"```json\n(.*?)```", section, re.S)]


def test_the_documented_pusher_policy_refuses_overwrites_and_retention() -> None:
    """docs/remotes.md's pusher policy denies a PutObject without If-None-Match (AWS's
    conditional-write condition key) and grants no retention or legal-hold change and no
    delete; reader and pusher may list and read versions (to notice a replaced key)."""
    text = DOCS.read_text()
    pusher, reader = _json_blocks(text, "**Pusher**")[:2]
    allowed = {a for s in pusher["Statement"] if s["Effect"] == "Allow" for a in _actions(s)}
    assert {"s3:PutObject", "s3:ListBucketVersions", "s3:GetObjectVersion"} <= allowed
    forbidden = {"s3:PutObjectRetention", "s3:PutObjectLegalHold", "s3:DeleteObject"}
    assert not allowed & forbidden
    assert not any(a.endswith("*") for a in allowed)
    denies = [s for s in pusher["Statement"] if s["Effect"] == "Deny"]
    assert any(
        "s3:PutObject" in _actions(s) and s["Condition"]["Null"] == {"s3:if-none-match": "true"}
        for s in denies
    )
    read = {a for s in reader["Statement"] if s["Effect"] == "Allow" for a in _actions(s)}
    assert read == {"s3:ListBucket", "s3:ListBucketVersions", "s3:GetObject", "s3:GetObjectVersion"}


def _actions(statement: dict[str, Any]) -> list[str]:
    actions = statement["Action"]
    return [actions] if isinstance(actions, str) else list(actions)


def test_a_marker_replaced_after_this_clone_read_it_is_still_read_as_first_written(
    moto_server: str, remote_env: dict[str, str], tmp_path: Path
) -> None:
    """A clone keeps the marker it read (so a push need not list the marker's versions
    each time); a marker replaced later does not match it and takes the full read: the
    replacement is reported and the first version still rules (main stays protected)."""
    target = s3_target(moto_server, remote_env)
    proj = _project(tmp_path / "work", remote_env, target, "--protect", "main")
    proj.ok("push")
    seen = proj.root / ".dvault" / "remotes" / "origin" / "marker.json"
    assert seen.read_bytes() == target.read("dvault-remote.json")
    evil = committed(tmp_path / "evil", {"data/labels.csv": b"file,label\na.bin,7\n"}, "poison")
    _upload_packs(target, tmp_path / "evil")
    target.replace("dvault-remote.json", b'{"format":1,"kind":"dvault-remote"}\n')
    result = proj.run("fetch")
    assert result.code == 0, result.describe()
    assert "dvault-remote.json was written 2 times" in result.err, result.describe()
    _main_stays_protected(target, proj.head(), evil, proj)
