"""The command line on hostile trees and remotes: one error line, exit 3, nothing written
(tests/test_hostile_checkout.py has the library-level cases)."""

from __future__ import annotations

from pathlib import Path

from dvault.repo import Repo
from tests.cli.helpers import Project, one_error_line
from tests.test_hostile_checkout import forge, hostile_remote


def test_cli_refuses_a_hostile_checkout_in_one_line(project: Project) -> None:
    project.write("data/a.txt", "alpha\n")
    project.ok("add", "data")
    project.commit("base")
    with Repo.open(project.root) as repo:
        forge(repo, {b"data": {b"a.txt": b"alpha\n", b"l": ("link", b"../../pwned")}})
    before = project.snapshot()
    result = project.run("checkout", "evil")
    assert result.code == 3, result.describe()
    line = one_error_line(result)
    assert "refusing to check out symlink 'data/l' -> '../../pwned'" in line
    assert project.snapshot() == before


def test_cli_clone_of_a_hostile_remote_is_one_line(tmp_path: Path, project: Project) -> None:
    remote = hostile_remote(tmp_path, {b"data": {b"l": ("link", b"../../../pwned")}})
    result = project.run("clone", str(remote), str(tmp_path / "victim"))
    assert result.code == 3, result.describe()
    assert "outside the work tree" in one_error_line(result)
    assert not (tmp_path / "victim").exists()
