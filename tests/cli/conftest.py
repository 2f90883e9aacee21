"""Fixtures for the end-to-end tests: every test drives the installed ``dvault`` program."""

from __future__ import annotations

from pathlib import Path

import pytest

from .helpers import Project, Result, Run, base_env, run_dvault


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    """Environment for dvault and git: fixed author, isolated HOME and git config."""
    home = tmp_path / "home"
    home.mkdir()
    return base_env(home)


@pytest.fixture
def run(env: dict[str, str], tmp_path: Path) -> Run:
    """``run(*args, cwd=DIR)`` runs dvault anywhere and returns the Result (any exit code)."""

    def _run(
        *args: str, cwd: Path | None = None, extra_env: dict[str, str] | None = None
    ) -> Result:
        return run_dvault(list(args), cwd or tmp_path, {**env, **(extra_env or {})})

    return _run


@pytest.fixture
def project(tmp_path: Path, env: dict[str, str]) -> Project:
    """A fresh project made by ``dvault init`` (not inside git)."""
    root = tmp_path / "proj"
    root.mkdir()
    proj = Project(root, env)
    proj.ok("init")
    return proj


@pytest.fixture
def tracked(project: Project) -> Project:
    """A project with ``data/`` tracked and committed once (a.txt, b.txt, sub/c.txt)."""
    project.write("data/a.txt", "alpha\n")
    project.write("data/b.txt", "bravo\n")
    project.write("data/sub/c.txt", "charlie\n")
    project.ok("add", "data")
    project.ok("commit", "-m", "first")
    return project
