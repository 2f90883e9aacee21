"""A git project as an auditor receives it, for the rendered-review tests: data in class
folders with a CSV of labels and a datasheet, tagged; a model trained on it with ``dvault
run`` (environment captured), tagged; optionally pushed to a directory remote; pinned in
git. Every quoted value can be made hostile."""

from __future__ import annotations

import sys
from pathlib import Path

from .helpers import Project, git, git_project

SHEET = """\
title = {title}
origin = "Photos taken by the team, 2024"
collection = "Phone cameras, one session per pet"
licence = "CC-BY-4.0"
personal_data = "none"
consent = "not applicable"
annotators = ["Ada", "Grace"]
annotation_guideline = "pets-guideline v3"
intended_use = "Cat/dog classification demos"
known_limitations = "Two breeds only"
{extra}
[splits]
train = "data/images/"
"""

TRAIN = """\
import pathlib
rows = pathlib.Path("data/labels.csv").read_text().splitlines()[1:]
pathlib.Path("models").mkdir(exist_ok=True)
pathlib.Path("models/model.bin").write_bytes(b"w" * (100 + len(rows)))
"""


def reviewed_project(
    root: Path,
    env: dict[str, str],
    *,
    message: str = "train on v1",
    tag: str = "trained",
    sheet_title: str = "Pets",
    unknown_key: str = "",
    remote: Path | None = None,
) -> Project:
    """The project (see the module docstring); ``unknown_key`` adds a datasheet key the
    format does not know (the review lists it), ``remote`` pushes to a remote there."""
    proj = git_project(root, env)
    for i in range(3):
        proj.write(f"data/images/cat/{i}.jpg", "c" * (10 + i))
        proj.write(f"data/images/dog/{i}.jpg", "d" * (20 + i))
    proj.write("data/labels.csv", "file,label\n0.jpg,cat\n1.jpg,cat\n2.jpg,dog\n")
    extra = f'{_toml_string(unknown_key)} = "x"' if unknown_key else ""
    proj.write("data/datasheet.toml", SHEET.format(title=_toml_string(sheet_title), extra=extra))
    proj.ok("add", "data")
    proj.ok("commit", "-m", "v1: images and labels")
    proj.ok("tag", "v1")
    proj.write("train.py", TRAIN)
    git(proj, "add", "-A")
    git(proj, "commit", "-qm", "training code")
    proj.ok(
        "run", "--input", "data@v1", "-o", "models", "-m", message, "--", sys.executable, "train.py"
    )
    proj.ok("tag", tag)
    if remote is not None:
        proj.ok("remote", "add", "--init", "origin", str(remote))
        proj.ok("push")
    git(proj, "add", "-A")
    git(proj, "commit", "-qm", "pin the trained model")
    return proj


def _toml_string(text: str) -> str:
    """A TOML basic string (JSON's escapes are TOML's for what these tests use)."""
    import json

    return json.dumps(text)
