"""``remote add --init`` on S3 (issue 20, item 6): the marker goes into a bucket that
exists; dvault never creates a bucket."""

from __future__ import annotations

from pathlib import Path

from tests.cli.helpers import one_error_line

from .conftest import RemoteTarget, new_project


def test_init_writes_the_marker_into_an_existing_bucket(
    s3_remote: RemoteTarget, tmp_path: Path
) -> None:
    proj = new_project(tmp_path / "work", s3_remote.env)
    proj.ok(*s3_remote.add_args("origin"))
    assert s3_remote.read("dvault-remote.json").startswith(b"{")


def test_init_never_creates_a_bucket(s3_remote: RemoteTarget, tmp_path: Path) -> None:
    proj = new_project(tmp_path / "work", s3_remote.env)
    missing = "s3://dv-no-such-bucket-here/proj"
    result = proj.run("remote", "add", "--init", "origin", missing, *s3_remote.options)
    assert result.code == 3, result.describe()
    assert "dv-no-such-bucket-here" in one_error_line(result)
    buckets = [b["Name"] for b in s3_remote.client.list_buckets()["Buckets"]]
    assert "dv-no-such-bucket-here" not in buckets
    assert proj.ok("remote", "list", "--json").json() == []


def test_a_mistyped_scheme_names_the_url_that_works(
    s3_remote: RemoteTarget, tmp_path: Path
) -> None:
    """``s3:/bucket/x`` is refused with "did you mean s3://bucket/x?"; that URL works."""
    proj = new_project(tmp_path / "work", s3_remote.env)
    typo = s3_remote.url.replace("s3://", "s3:/")
    result = proj.run("remote", "add", "--init", "origin", typo, *s3_remote.options)
    assert result.code == 2, result.describe()
    line = one_error_line(result)
    meant = line.rsplit("did you mean ", 1)[1].rstrip("?")
    assert meant == s3_remote.url
    assert not (proj.root / "s3:").exists()
    proj.ok("remote", "add", "--init", "origin", meant, *s3_remote.options)
    assert s3_remote.read("dvault-remote.json").startswith(b"{")
