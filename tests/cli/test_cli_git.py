"""Working inside a real git work tree (the real ``git`` binary)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from .helpers import Project, Run

pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")


def _git(cwd: Path, env: dict[str, str], *args: str) -> str:
    proc = subprocess.run(
        ["git", *args], cwd=cwd, env=env, capture_output=True, text=True, check=True
    )
    return proc.stdout


@pytest.fixture
def git_repo(tmp_path: Path, env: dict[str, str]) -> Path:
    """An empty git work tree with one subdirectory (src/)."""
    root = tmp_path / "ml-project"
    (root / "src").mkdir(parents=True)
    _git(root, env, "-c", "init.defaultBranch=main", "init", "-q")
    return root


def test_init_in_subdirectory_uses_git_root(git_repo: Path, run: Run) -> None:
    """`dvault init` run in a subdirectory of a git work tree puts .dvault at the git root."""
    result = run("init", cwd=git_repo / "src")
    assert result.code == 0, result.describe()
    assert (git_repo / ".dvault" / "HEAD").is_file()
    assert not (git_repo / "src" / ".dvault").exists()
    # commands from the subdirectory find it
    status = run("status", "--json", cwd=git_repo / "src")
    assert status.code == 0, status.describe()


def test_add_keeps_data_out_of_git(git_repo: Path, env: dict[str, str]) -> None:
    """`dvault add data` adds /data to the root .gitignore; git status then ignores the data."""
    project = Project(git_repo, env)
    project.ok("init")
    project.write("data/images/cat.jpg", b"\xff\xd8 not really a jpeg")
    project.write("data/labels.csv", "img,label\ncat.jpg,cat\n")
    project.write("src/train.py", "print('train')\n")
    project.ok("add", "data")
    lines = (git_repo / ".gitignore").read_text().splitlines()
    assert "/data" in lines
    porcelain = _git(git_repo, env, "status", "--porcelain", "--untracked-files=all")
    assert "src/train.py" in porcelain
    assert "data/" not in porcelain, porcelain
    assert ".gitignore" in porcelain
    assert ".dvault/config" in porcelain  # the config is meant to be committed to git
    assert ".dvault/index" not in porcelain
    assert ".dvault/packs" not in porcelain
    # adding again does not duplicate the line
    project.write("data/more.csv", "x\n")
    project.ok("add", "data")
    assert (git_repo / ".gitignore").read_text().splitlines().count("/data") == 1


def test_add_from_subdirectory_ignores_the_right_path(git_repo: Path, env: dict[str, str]) -> None:
    """A root added from a subdirectory is ignored by its project path (/src/ckpt)."""
    project = Project(git_repo, env)
    project.ok("init")
    project.write("src/ckpt/model.pt", b"\x00" * 100)
    project.ok("add", "ckpt", cwd=git_repo / "src")
    assert "/src/ckpt" in (git_repo / ".gitignore").read_text().splitlines()
    porcelain = _git(git_repo, env, "status", "--porcelain", "--untracked-files=all")
    assert "model.pt" not in porcelain
    project.ok("commit", "-m", "ckpt")
    assert project.log()[0]["roots"] == {"src/ckpt": "checkpoint"}


def test_existing_gitignore_is_preserved(git_repo: Path, env: dict[str, str]) -> None:
    """dvault appends to an existing .gitignore (even without a final newline)."""
    (git_repo / ".gitignore").write_text("__pycache__/\n*.log")
    project = Project(git_repo, env)
    project.ok("init")
    project.write("data/x", "x")
    project.ok("add", "data")
    lines = (git_repo / ".gitignore").read_text().splitlines()
    assert lines[:2] == ["__pycache__/", "*.log"]
    assert "/data" in lines
