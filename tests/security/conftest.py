"""Fixtures shared by the security suite (one attack per test; see each module)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.security._checkout_helpers import Scene, copy_scene, make_scene


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Scene:
    """An honest owner's project, pushed to a directory remote, and a victim's clone of
    it: built once per module (the checkout attacks start from it)."""
    return make_scene(tmp_path_factory.mktemp("scene"))


@pytest.fixture
def scene(template: Scene, tmp_path: Path) -> Scene:
    """A fresh copy of :func:`template` for one attack."""
    return copy_scene(template, tmp_path / "s")
