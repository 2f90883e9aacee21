"""Fixtures for the git-integration tests: the real ``git`` binary next to the real ``dvault``.

Every project is a git work tree made with ``git init -b main`` under an isolated HOME and git
identity; dvault runs as a subprocess (tests/cli/helpers.py), and git runs dvault's hooks.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.cli.helpers import Project, base_env, snapshot

V1 = {
    "a.txt": b"alpha\n",
    "b.bin": bytes(range(256)) * 3,
    "sub/c.txt": b"charlie\n",
    "sub/deeper/empty.txt": b"",
}
"""Version 1 of ``data/`` (four files, one empty, nested folders)."""


@dataclass
class GitProject(Project):
    """A dvault project inside a git work tree, with ``git`` at hand."""

    def git(self, *args: str, check: bool = True, cwd: Path | None = None) -> GitResult:
        """Run ``git ARGS``; with ``check`` require exit 0."""
        proc = subprocess.run(
            ["git", *args],
            cwd=cwd or self.root,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        result = GitResult(list(args), proc.returncode, proc.stdout, proc.stderr)
        assert not check or result.code == 0, result.describe()
        return result

    def sha(self, rev: str = "HEAD", cwd: Path | None = None) -> str:
        return self.git("rev-parse", rev, cwd=cwd).out.strip()

    def write_tree(self, files: dict[str, bytes], top: str = "data") -> None:
        """Make ``top`` hold exactly ``files`` (removing anything else under it)."""
        shutil.rmtree(self.root / top, ignore_errors=True)
        for rel, content in files.items():
            self.write(f"{top}/{rel}", content)

    def lock(self, rev: str | None = None) -> str:
        """dvault.lock in the work tree, or as committed to git at ``rev``."""
        if rev is None:
            return (self.root / "dvault.lock").read_text()
        return self.git("show", f"{rev}:dvault.lock").out

    def pin(self, rev: str | None = None) -> str:
        """The dvault commit the lock names."""
        import tomllib

        return str(tomllib.loads(self.lock(rev))["commit"])

    def data(self) -> dict[str, tuple[str, ...]]:
        """A hash of every entry under data/."""
        return snapshot(self.root / "data")

    def show_json(self, rev: str = "HEAD") -> dict:
        return self.ok("show", "--json", rev).json()

    def append_config(self, text: str, local: bool = False) -> None:
        """Append to the project config, or with ``local`` to this clone's
        ``.dvault/config.local`` (where settings that loosen safety or automate hooks
        must live)."""
        with open(self.root / ".dvault" / ("config.local" if local else "config"), "a") as f:
            f.write(text)


@dataclass
class GitResult:
    args: list[str]
    code: int
    out: str
    err: str

    def describe(self) -> str:
        return f"git {' '.join(self.args)} -> {self.code}\nstdout:\n{self.out}\nstderr:\n{self.err}"


def remote_refs(remote: Path) -> dict[str, str]:
    """The refs a directory remote's ref log ends with (replayed: last entry wins)."""
    refs: dict[str, str] = {}
    for path in sorted((remote / "refs" / "log").glob("*.json")):
        entry = json.loads(path.read_bytes())
        for update in entry["updates"]:
            refs[update["ref"]] = update["new"]
    return refs


@pytest.fixture(autouse=True)
def _needs_git() -> None:
    if shutil.which("git") is None:  # pragma: no cover - the image has git
        pytest.skip("git is not installed")


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    """dvault and git isolated from the user: temp HOME, no git config, fixed identities."""
    home = tmp_path / "home"
    home.mkdir()
    env = base_env(home)
    env.update(
        GIT_AUTHOR_NAME="Ada",
        GIT_AUTHOR_EMAIL="ada@example.com",
        GIT_COMMITTER_NAME="Ada",
        GIT_COMMITTER_EMAIL="ada@example.com",
    )
    for var in ("GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE"):
        env.pop(var, None)
    return env


@pytest.fixture
def gitproj(tmp_path: Path, env: dict[str, str]) -> GitProject:
    """A git work tree (branch main) with one code commit, and an initialised dvault."""
    proj = GitProject(tmp_path / "proj", env)
    proj.root.mkdir()
    proj.git("init", "-q", "-b", "main")
    proj.write("train.py", "print('train')\n")
    proj.git("add", "train.py")
    proj.git("commit", "-q", "-m", "code")
    proj.ok("init")
    return proj


@pytest.fixture
def v1(gitproj: GitProject) -> GitProject:
    """``gitproj`` with data/ = V1 tracked and committed by dvault (dvault.lock written)."""
    gitproj.write_tree(V1)
    gitproj.ok("add", "data")
    gitproj.ok("commit", "-m", "v1")
    return gitproj


@pytest.fixture
def dvault_remote(tmp_path: Path) -> Path:
    """Where the dvault remote (a directory) lives; created by the first push."""
    return tmp_path / "dvault-remote"


@pytest.fixture
def bare(tmp_path: Path, env: dict[str, str]) -> Path:
    """An empty bare git repository to push to."""
    path = tmp_path / "bare.git"
    subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(path)], env=env, check=True)
    return path


@pytest.fixture
def hooked(v1: GitProject, dvault_remote: Path, bare: Path) -> GitProject:
    """``v1`` with a dvault remote, hooks installed, and everything committed to git
    (git HEAD pins v1); the bare repo is git remote ``origin``, not yet pushed to."""
    v1.ok("remote", "add", "--init", "origin", str(dvault_remote))
    v1.ok("hooks", "install")
    v1.git("add", "-A")
    v1.git("commit", "-q", "-m", "data v1")
    v1.git("remote", "add", "origin", str(bare))
    return v1


def change_data(proj: GitProject, files: dict[str, bytes], message: str) -> str:
    """Replace data/ with ``files``, commit it to dvault and git (lock staged); git sha."""
    proj.write_tree(files)
    proj.ok("commit", "-a", "-m", message)
    proj.git("add", "dvault.lock")
    proj.git("commit", "-q", "-m", message)
    return proj.sha()
