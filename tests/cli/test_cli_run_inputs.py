"""``dvault run`` records the truth (issue 21, "lineage that cannot lie"): its own
``.gitignore`` edit does not make the commit dirty, a model output is not a dataset."""

from __future__ import annotations

from pathlib import Path

from .helpers import Project, git, git_project


def _git_project(tmp_path: Path, env: dict[str, str]) -> Project:
    """A git project: data v1 committed to dvault, code and the pin committed to git."""
    proj = git_project(tmp_path / "gitproj", env)
    proj.write("train.py", "print('train')\n")
    proj.write("data/a.txt", "alpha\n")
    proj.ok("add", "data")
    proj.ok("commit", "-m", "v1")
    git(proj, "add", "-A")
    git(proj, "commit", "-qm", "code+pin")
    return proj


def _meta(proj: Project) -> dict:
    meta: dict = proj.ok("show", "--json", "HEAD").json()["meta"]
    return meta


def test_run_does_not_mark_its_own_commit_dirty(tmp_path: Path, env: dict[str, str]) -> None:
    """run adds the output root to .gitignore before recording git's state: that edit is
    dvault's own, like dvault.lock, and the committed code is clean."""
    proj = _git_project(tmp_path, env)
    proj.ok("run", "-o", "feat", "--", "sh", "-c", "mkdir -p feat && cp data/a.txt feat/")
    assert "/feat" in (proj.root / ".gitignore").read_text()
    assert _meta(proj)["git"]["dirty"] is False


def test_a_user_edit_of_gitignore_is_still_dirty(tmp_path: Path, env: dict[str, str]) -> None:
    """Only the lines dvault writes are excused: a line the user added is a change to
    the committed code."""
    proj = _git_project(tmp_path, env)
    with open(proj.root / ".gitignore", "a") as f:
        f.write("secret.txt\n")
    proj.ok("run", "-o", "feat", "--", "sh", "-c", "mkdir -p feat && cp data/a.txt feat/")
    assert _meta(proj)["git"]["dirty"] is True


def test_a_model_output_is_a_checkpoint(project: Project) -> None:
    """`--output models` (a folder of weights) is recorded as a checkpoint, not a dataset."""
    project.ok(
        "run", "-o", "models", "--", "sh", "-c", "mkdir -p models && echo w > models/net.bin"
    )
    assert project.ok("show", "--json", "HEAD").json()["roots"] == {"models": "checkpoint"}
