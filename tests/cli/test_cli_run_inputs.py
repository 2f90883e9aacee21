"""``dvault run`` records the truth (issue 21, "lineage that cannot lie"): its own
``.gitignore`` edit does not make the commit dirty, a model output is not a dataset."""

from __future__ import annotations

from pathlib import Path

from .helpers import Project, git, git_project, one_error_line


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


def _two_versions(project: Project) -> tuple[str, str]:
    """labels v1 then v2 committed; v2 is checked out."""
    project.write("labels/l.csv", "id,label\n1,cat\n")
    project.ok("add", "labels", "--kind", "labels")
    project.ok("commit", "-m", "labels v1")
    project.ok("tag", "v1")
    project.write("labels/l.csv", "id,label\n1,dog\n")
    project.ok("commit", "-a", "-m", "labels v2")
    return project.log()[1]["id"], project.head()


COPY = ["--", "sh", "-c", "mkdir -p out && cp labels/l.csv out/"]


def test_an_input_of_another_version_is_refused(project: Project) -> None:
    """--input labels@v1 with v2 checked out: nothing runs, nothing is committed, exit 1,
    one line naming the input and the checkout that fixes it."""
    _, v2 = _two_versions(project)
    result = project.fails(1, "run", "--input", "labels@v1", "-o", "out", *COPY)
    assert "labels@v1" in one_error_line(result) and "checked out" in result.err
    assert "dvault checkout v1 -- labels" in result.err
    assert not (project.root / "out").exists()
    assert project.head() == v2


def test_an_input_with_uncommitted_changes_is_refused(project: Project) -> None:
    """The declared revision is checked out but edited: refused, and so is an input whose
    path is missing; --input REV compares every root of REV the run does not write."""
    _two_versions(project)
    project.write("labels/l.csv", "id,label\n1,bird\n")
    result = project.fails(1, "run", "--input", "labels@HEAD", "-o", "out", *COPY)
    assert "changes not committed" in one_error_line(result)
    result = project.fails(1, "run", "--input", "HEAD", "-o", "out", *COPY)
    assert "labels" in one_error_line(result)
    (project.root / "labels/l.csv").unlink()
    (project.root / "labels").rmdir()
    result = project.fails(1, "run", "--input", "labels@HEAD", "-o", "out", *COPY)
    assert "missing" in one_error_line(result)
    assert not (project.root / "out").exists()


def test_allow_dirty_records_what_was_present(project: Project) -> None:
    """--allow-dirty runs, and the record says the input was not clean and names the
    tree the work tree actually held (the v2 one, not v1's)."""
    v1, v2 = _two_versions(project)
    done = project.ok("run", "--json", "--allow-dirty", "--input", "labels@v1", "-o", "out", *COPY)
    record = project.ok("show", "--json", "HEAD").json()["meta"]["inputs"][0]
    assert done.json()["inputs"] == [record]
    v2_labels = _entry_id(project, v2, "labels")
    assert record["commit"] == v1 and record["id"] == _entry_id(project, v1, "labels")
    assert record["clean"] is False and record["present"] == {"labels": v2_labels}
    assert "NOT what the work tree held" in project.ok("lineage", "HEAD").out


def test_a_clean_input_records_the_same_tree(project: Project) -> None:
    """With the declared version checked out, run goes ahead and present equals the
    recorded id; --input REV records each root."""
    _, v2 = _two_versions(project)
    project.ok("run", "--input", "labels@HEAD", "--input", v2, "-o", "out", *COPY)
    inputs = project.ok("show", "--json", "HEAD").json()["meta"]["inputs"]
    labels = _entry_id(project, v2, "labels")
    assert inputs[0]["clean"] is True and inputs[0]["present"] == {"labels": labels}
    assert inputs[1]["clean"] is True and inputs[1]["present"] == {"labels": labels}


def _entry_id(project: Project, rev: str, name: str) -> str:
    tree = project.ok("show", "--json", f"{rev}:").json()
    return str(next(e["id"] for e in tree if e["name"] == name))


TRAIN = """\
import pathlib, sys
here = pathlib.Path(__file__).resolve().parent
rows = (here / "labels" / "l.csv").read_text().splitlines()
pathlib.Path("out").mkdir(exist_ok=True)
pathlib.Path("out/model.txt").write_text(f"trained on {len(rows)} rows: {rows[-1]}\\n")
"""


def test_rerun_uses_the_recorded_inputs_not_the_work_tree(project: Project) -> None:
    """The issue's scenario: a run on labels v1, then newer labels (one more commit, a
    file the script needs deleted, an edit not committed): rerun of the run commit
    re-creates v1's inputs in a scratch work tree and reproduces; the work tree, its
    uncommitted edit and its outputs are untouched, and the scratch is gone."""
    _two_versions(project)
    project.ok("checkout", "v1")
    project.write("train.py", TRAIN)
    project.ok("run", "--input", "labels@v1", "-o", "out", "--", "python3", "train.py")
    ran = project.head()
    assert (project.root / "out/model.txt").read_text() == "trained on 2 rows: 1,cat\n"
    project.write("labels/l.csv", "id,label\n1,dog\n2,cat\n")
    project.ok("commit", "-a", "-m", "labels v3")
    project.write("labels/l.csv", "not committed\n")
    (project.root / "out/model.txt").write_text("mine\n")
    result = project.ok("rerun", "--yes", ran)
    assert "reproduced" in result.out
    assert (project.root / "labels/l.csv").read_text() == "not committed\n"
    assert (project.root / "out/model.txt").read_text() == "mine\n"
    assert not list((project.root / ".dvault/tmp").glob("rerun-*"))
    (project.root / "labels/l.csv").unlink()  # what the old rerun called a failed command
    assert "reproduced" in project.ok("rerun", "--yes", ran).out


def test_rerun_reports_a_failure_in_the_scratch_honestly(project: Project) -> None:
    """A command that fails on the recorded inputs is NOT reproduced (exit 1), said once."""
    _two_versions(project)
    project.write("flaky.sh", "test -f labels/l.csv && mkdir -p out && date +%N > out/t\n")
    project.ok("run", "--input", "labels@HEAD", "-o", "out", "--", "sh", "flaky.sh")
    project.write("flaky.sh", "exit 4\n")  # the code changed since
    result = project.fails(1, "rerun", "--yes", "HEAD")
    errors = [line for line in result.err.splitlines() if "error:" in line]
    assert len(errors) == 1 and "NOT reproduced" in errors[0] and "exited 4" in errors[0]


def test_rerun_of_a_dirty_run_is_refused(project: Project) -> None:
    """An input recorded with --allow-dirty was never stored: nothing runs (exit 1)."""
    _two_versions(project)
    project.ok("run", "--allow-dirty", "--input", "labels@v1", "-o", "out", *COPY)
    result = project.fails(1, "rerun", "--yes", "HEAD")  # refused before it is shown
    assert "--allow-dirty" in one_error_line(result) and "cannot be re-created" in result.err


def test_rerun_says_which_code_it_uses(tmp_path: Path, env: dict[str, str]) -> None:
    """The scratch gets the work tree's code: rerun says whether that is the git commit
    the run recorded, before it runs."""
    proj = _git_project(tmp_path, env)
    train = "mkdir -p feat && python3 train.py > feat/log.txt"
    proj.ok("run", "--input", "data@HEAD", "-o", "feat", "--", "sh", "-c", train)
    ran = proj.head()
    recorded = _meta(proj)["git"]["commit"]
    same = proj.ok("rerun", "--yes", ran)
    assert f"code: the work tree's, at git {recorded[:12]} (the commit" in same.err
    proj.write("train.py", "print('train v2')\n")
    git(proj, "commit", "-qam", "code v2")
    moved = proj.run("rerun", "--yes", ran)
    assert moved.code == 1 and "differs: feat/log.txt" in moved.out, moved.describe()
    assert f"NOT {recorded[:12]}, the commit the run recorded" in moved.err


def test_an_input_the_command_changes_is_recorded_as_such(project: Project) -> None:
    """A command that edits its declared input while it runs: committed, with the input
    recorded as changed (not clean) and a warning, so no rerun claims to re-create it."""
    _two_versions(project)
    edit = "mkdir -p out && cp labels/l.csv out/ && echo 2,eel >> labels/l.csv"
    result = project.ok("run", "--input", "labels@HEAD", "-o", "out", "--", "sh", "-c", edit)
    assert "changed its input labels@HEAD" in result.err
    record = project.ok("show", "--json", "HEAD").json()["meta"]["inputs"][0]
    assert record["changed_during_run"] is True and record["clean"] is False
