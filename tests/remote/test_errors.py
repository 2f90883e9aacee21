"""Failures a user meets with remotes: one clear line, the right exit code, no traceback."""

from __future__ import annotations

import shutil
import socket
from pathlib import Path

from tests.cli.helpers import Project, one_error_line

from .conftest import RemoteTarget, new_project


def _dead_endpoint() -> str:
    """A loopback URL where nothing listens (a port just freed by the OS)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def _unreachable(remote: RemoteTarget, tmp_path: Path) -> tuple[str, list[str]]:
    """URL and options of a remote that is not there: a directory that does not exist
    (an unmounted NAS), or an S3 endpoint nobody answers."""
    if remote.kind == "dir":
        return str(tmp_path / "unmounted-nas" / "proj"), []
    return remote.url, ["--endpoint", _dead_endpoint()]


def test_unreachable_remote_fails_in_one_line(remote: RemoteTarget, tmp_path: Path) -> None:
    """fetch, pull, clone and verify against an absent remote fail clearly, changing nothing."""
    url, options = _unreachable(remote, tmp_path)
    proj = new_project(tmp_path / "work", remote.env)
    proj.write("data/a.txt", "alpha\n")
    proj.ok("add", "data")
    proj.ok("commit", "-m", "one")
    if remote.kind == "dir":  # made while the NAS was mounted, then it was unmounted
        (tmp_path / "unmounted-nas").mkdir()
        proj.ok("remote", "add", "--init", "origin", url)
        shutil.rmtree(tmp_path / "unmounted-nas")
    else:  # no --init: nothing is asked of the endpoint until the remote is used
        proj.ok("remote", "add", "origin", url, *options)

    for command in ["fetch"] if remote.kind == "s3" else ["fetch", "pull"]:
        result = proj.run(command)  # (S3: each attempt is retried for ~2 s before failing)
        assert result.code == 3, result.describe()
        # the line names the remote it needs, by its name and where it is
        assert f"remote origin ({url})" in one_error_line(result), result.describe()
    result = proj.run("push")
    assert result.code == 3, result.describe()
    if remote.kind == "s3":
        assert "127.0.0.1" in one_error_line(result)
    else:  # never recreated on the local disk
        assert "not mounted, or removed?" in one_error_line(result)
        assert not (tmp_path / "unmounted-nas").exists()
    result = proj.run("verify", "--remote", "origin")
    assert result.code != 0, result.describe()
    assert "Traceback" not in result.err

    dest = tmp_path / "copy"
    result = Project(tmp_path, remote.env).run("clone", url, str(dest), *options)
    assert result.code == 3, result.describe()
    one_error_line(result)
    assert not dest.exists()
    assert proj.status()["clean"]


def test_retention_needs_an_s3_remote(tmp_path: Path, remote_env: dict[str, str]) -> None:
    """--retention on a directory remote is refused (exit 2) and nothing is recorded."""
    proj = new_project(tmp_path / "work", remote_env)
    result = proj.run("remote", "add", "--init", "nas", str(tmp_path / "nas"), "--retention", "7")
    assert result.code == 2, result.describe()
    assert "retention" in one_error_line(result)
    assert proj.ok("remote", "list", "--json").json() == []


def test_unknown_names_are_usage_errors(ml: Project, remote: RemoteTarget, tmp_path: Path) -> None:
    """Unknown remotes, revisions and duplicate names exit 2; remote remove leaves data."""
    ml.ok("push", "origin", "main", "v1")
    for args in (
        ["verify", "--remote", "nope"],
        ["remote", "remove", "nope"],
        ["push", "nope"],
        [*remote.add_args("origin")],
    ):
        result = ml.run(*args)
        assert result.code == 2, result.describe()
        one_error_line(result)

    dest = tmp_path / "copy"
    result = Project(tmp_path, remote.env).run(*remote.clone_args(dest, "--rev", "v9"))
    assert result.code == 2, result.describe()
    assert "v9" in one_error_line(result)
    assert not dest.exists()

    held = remote.keys()
    ml.ok("remote", "remove", "origin")
    assert remote.keys() == held
    result = ml.run("push")
    assert result.code == 2, result.describe()
    assert "no remote" in one_error_line(result)
