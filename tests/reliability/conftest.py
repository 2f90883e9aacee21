"""Fixtures for the crash-safety suite, and a terminal summary of its kill campaigns.

Each campaign records a one-line summary ("add: 50 kills, 0 losses (...)") with
``record_property``; the lines are collected here (also from xdist workers, whose
reports carry ``user_properties``) and printed at the end of the run. Run with ``-s``
and without xdist to also see them as each test finishes.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from .harness import PROPERTY, Project, base_env

_summaries: list[str] = []


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.when == "call":
        _summaries.extend(value for key, value in report.user_properties if key == PROPERTY)


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if _summaries:
        terminalreporter.section("dvault crash-safety")
        for line in sorted(_summaries):
            terminalreporter.write_line(line)


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """Environment for dvault (fixed author, isolated HOME and git config), for child
    processes and, set in ``os.environ``, for the command line run in this process."""
    home = tmp_path / "home"
    home.mkdir()
    env = base_env(home)
    for key, value in env.items():
        if os.environ.get(key) != value:
            monkeypatch.setenv(key, value)
    return env


@pytest.fixture
def project(tmp_path: Path, env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Project:
    """A fresh project made by ``dvault init`` (not inside git), also the current directory."""
    root = tmp_path / "proj"
    root.mkdir()
    monkeypatch.chdir(root)
    proj = Project(root, env)
    proj.ok("init")
    return proj
