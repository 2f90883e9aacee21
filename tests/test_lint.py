"""The code base stays ruff-clean (lint and format), checked with every test run."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _ruff() -> list[str]:
    found = shutil.which("ruff", path=str(Path(sys.executable).parent))
    if found is None:
        pytest.fail("ruff is not installed; install the test extra: pip install -e '.[test]'")
    return [found]


def test_ruff_lint_is_clean() -> None:
    """Lint errors fail the build, not a later review."""
    result = subprocess.run(
        [*_ruff(), "check", "dvault", "tests", "scripts"], cwd=ROOT, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_ruff_format_is_clean() -> None:
    """Formatting is uniform so diffs show only real changes."""
    result = subprocess.run(
        [*_ruff(), "format", "--check", "dvault", "tests", "scripts"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_mypy_is_clean() -> None:
    """The type hints are checked, so they stay true: the package, and the tests and
    scripts that call it (a test calling an API wrongly is as misleading as the API)."""
    mypy = shutil.which("mypy", path=str(Path(sys.executable).parent))
    if mypy is None:
        pytest.fail("mypy is not installed; install the test extra: pip install -e '.[test]'")
    result = subprocess.run(
        [mypy, "--explicit-package-bases", "dvault", "tests", "scripts"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr
