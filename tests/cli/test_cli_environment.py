"""The environment `dvault run` and `commit --env` record, and how show, lineage and
review present it, through the real command line (dvault/environment.py)."""

from __future__ import annotations

import sys
import time
from pathlib import Path

from blake3 import blake3

from dvault.commitobjects import Commit
from dvault.hashing import ObjectType
from dvault.repo import Repo

from .helpers import Project, git, git_project

WRITE_OUT = "import os; os.makedirs('out', exist_ok=True); open('out/x', 'w').write('x')"


def _env(proj: Project, rev: str = "HEAD") -> dict[str, object]:
    env: dict[str, object] = proj.ok("show", "--json", rev).json()["environment"]
    return env


def test_run_records_the_commands_interpreter_packages_and_lock_files(tracked: Project) -> None:
    """`run -- PYTHON ...` asks that interpreter: its version, its packages, the lock
    files at the root by content id, platform; the commit names the object in meta.env."""
    tracked.write("requirements.txt", "blake3==1.0\n")
    tracked.ok("run", "-o", "out", "--", sys.executable, "-c", WRITE_OUT)
    recorded = _env(tracked)
    assert recorded["status"] == "captured" and recorded["problem"] is None
    env = recorded["environment"]
    assert isinstance(env, dict)
    assert env["interpreter"] == "command"
    assert env["python"]["executable"] == sys.executable
    assert env["python"]["version"] == ".".join(map(str, sys.version_info[:3]))
    names = {name.lower() for name, _version in env["distributions"]}
    assert {"blake3", "typer"} <= names  # dvault's own dependencies, in this venv
    content = b"blake3==1.0\n"
    blob_id = blake3(b"blob %d\0" % len(content) + content).hexdigest()
    assert env["lockfiles"] == [{"id": blob_id, "path": "requirements.txt", "size": 12}]
    assert env["platform"] and env["machine"] and env["problems"] == []
    meta = tracked.ok("show", "--json").json()["meta"]
    assert meta["env"] == recorded["id"]
    text = tracked.ok("show").out
    assert f"Env:    python: CPython {env['python']['version']}" in text
    assert "Env:    lock file: requirements.txt (12 bytes" in text
    assert "Meta:   env" not in text  # shown read and checked, not as a raw id


def test_run_of_a_script_asks_the_python_its_shebang_names(tracked: Project) -> None:
    """`run -- ./train.py` with `#!PYTHON` records that PYTHON, not dvault's."""
    tracked.write("train.py", f"#!{sys.executable}\n{WRITE_OUT}\n", mode=0o755)
    tracked.ok("run", "-o", "out", "--", "./train.py")
    env = _env(tracked)["environment"]
    assert isinstance(env, dict)
    assert env["interpreter"] == "command" and env["python"]["executable"] == sys.executable


def test_a_command_that_is_no_python_records_dvaults_interpreter_and_says_so(
    tracked: Project,
) -> None:
    tracked.ok("run", "-o", "out", "--", "sh", "-c", "mkdir -p out && echo x > out/x")
    env = _env(tracked)["environment"]
    assert isinstance(env, dict)
    assert env["interpreter"] == "dvault"
    assert env["problems"] == [
        "the command's interpreter is not known from 'sh'; recorded dvault's own"
    ]
    assert "dvault's own interpreter" in tracked.ok("show").out


def test_an_interpreter_that_cannot_answer_never_fails_the_run(tracked: Project) -> None:
    """A `python` on PATH that runs the job but garbles the probe: the run commits, the
    record says what went wrong and falls back to dvault's interpreter."""
    fake = tracked.root.parent / "fakebin"
    fake.mkdir()
    script = fake / "python"
    script.write_text("#!/bin/sh\nmkdir -p out && echo x > out/x\necho not-json\n")
    script.chmod(0o755)
    path = f"{fake}:{tracked.env['PATH']}"
    started = time.perf_counter()
    tracked.ok("run", "-o", "out", "--", "python", "train.py", env={"PATH": path})
    assert time.perf_counter() - started < 30
    env = _env(tracked)["environment"]
    assert isinstance(env, dict)
    assert env["interpreter"] == "dvault"  # dvault runs under this venv's python3
    assert Path(env["python"]["executable"]).resolve() == Path(sys.executable).resolve()
    assert any("could not describe itself" in p for p in env["problems"])


def _venv_first(proj: Project) -> dict[str, str]:
    """PATH with this interpreter's folder (its python3) first, as an activated venv."""
    return {"PATH": f"{Path(sys.executable).parent}:{proj.env['PATH']}"}


def test_commit_env_records_the_python_on_path(tracked: Project) -> None:
    tracked.write("data/d.txt", "delta\n")
    tracked.ok("commit", "-a", "-m", "with env", "--env", env=_venv_first(tracked))
    env = _env(tracked)["environment"]
    assert isinstance(env, dict) and env["interpreter"] == "path"
    assert Path(env["python"]["executable"]).parent == Path(sys.executable).parent
    tracked.write("data/e.txt", "echo\n")
    tracked.ok("commit", "-a", "-m", "without")
    assert _env(tracked) == {
        "status": "not recorded",
        "id": None,
        "problem": None,
        "environment": None,
    }


def test_meta_env_by_hand_is_refused_and_commits_nothing(tracked: Project) -> None:
    before = tracked.head()
    tracked.write("data/d.txt", "delta\n")
    result = tracked.fails(2, "commit", "-a", "-m", "forged", "--meta", "env=" + "0" * 64)
    assert "meta key 'env' names the captured environment object" in result.err
    assert len(result.err.strip().splitlines()) == 1
    assert tracked.head() == before


def _forge(proj: Project, body: bytes, raw_env: str | None = None) -> str:
    """A commit on HEAD whose meta.env names ``body`` stored as a blob."""
    with Repo.open(proj.root) as repo, repo.locked():
        head = repo.resolve("HEAD")
        parent = repo.read_commit(head)
        with repo.store.writer() as writer:
            blob = writer.put_raw(ObjectType.BLOB, body)
            commit = Commit(
                tree=parent.tree,
                parents=(head,),
                author=parent.author,
                time_ns=parent.time_ns + 1,
                message="forged env",
                roots=parent.roots,
                meta={"env": raw_env if raw_env is not None else blob.hex()},
            )
            oid = writer.put(commit)
        repo.refs.update_head_target(oid, "forge")
    return oid.hex()


def test_a_hostile_environment_object_is_refused_in_one_line(tracked: Project) -> None:
    """Junk, an oversized object, and a meta.env that is no id: show, lineage and the
    JSON say "refused" with the reason on one line; nothing crashes."""
    cases = [
        (b"not json at all", "environment object is not JSON"),
        (b'{"version":1}', "environment object must hold exactly"),
        (b" " * (600 * 1024), "environment object is 614400 bytes, over 524288"),
    ]
    for body, reason in cases:
        _forge(tracked, body)
        shown = tracked.ok("show").out
        refused = [line for line in shown.splitlines() if line.startswith("Env:")]
        assert len(refused) == 1 and refused[0].startswith("Env:    refused: " + reason), shown
        recorded = _env(tracked)
        assert recorded["status"] == "refused" and reason in str(recorded["problem"])
        assert "environment: refused: " + reason in tracked.ok("lineage").out
    _forge(tracked, b"", raw_env="../../etc/passwd")
    assert _env(tracked)["problem"] == "meta env is not an object id"


def test_an_escape_sequence_in_the_record_is_escaped(tracked: Project) -> None:
    """A forged, well-formed record whose strings hold terminal escapes prints escaped."""
    tracked.ok("run", "-o", "out", "--", sys.executable, "-c", WRITE_OUT)
    env = _env(tracked)["environment"]
    assert isinstance(env, dict)
    env["cpu"] = "evil\x1b[2J\x1b]0;pwned\x07"
    from dvault.commitobjects import canonical_json

    _forge(tracked, canonical_json(env))
    shown = tracked.ok("show").out
    assert "\x1b" not in shown and "\x07" not in shown
    assert _env(tracked)["status"] == "captured"


def test_push_clone_and_gc_keep_the_environment(tracked: Project, tmp_path: Path) -> None:
    """The object travels with its commit (the history walk follows meta.env)."""
    tracked.ok("run", "-o", "out", "--", sys.executable, "-c", WRITE_OUT)
    tracked.ok("gc")
    assert _env(tracked)["status"] == "captured"
    tracked.ok("remote", "add", "--init", "origin", str(tmp_path / "remote"))
    tracked.ok("push")
    clone = Project(tmp_path / "clone", tracked.env)
    tracked.ok("clone", str(tmp_path / "remote"), str(clone.root))
    assert _env(clone) == _env(tracked)
    assert tracked.ok("verify").code == 0


def test_review_shows_the_environment(tmp_path: Path, env: dict[str, str]) -> None:
    proj = git_project(tmp_path / "gitproj", env)
    proj.write("data/a.txt", "alpha\n")
    proj.ok("add", "data")
    proj.ok("commit", "-m", "v1", "--env", env=_venv_first(proj))
    git(proj, "add", "-A")
    git(proj, "commit", "-qm", "code+pin")
    report = proj.run("review").out
    assert "## Environment" in report
    assert "| package | version |" in report and "| blake3 |" in report
    data = proj.run("review", "--json").json()
    assert data["environment"]["status"] == "captured"
    assert data["environment"]["environment"]["interpreter"] == "path"
    page = proj.run("review", "--format", "html").out
    assert "<h2>Environment</h2>" in page and "<td>blake3</td>" in page


def test_a_missing_environment_object_is_named_by_verify_and_stops_a_push(
    tracked: Project, tmp_path: Path
) -> None:
    """meta.env naming an object the store lacks: like a missing file of the commit."""
    absent = "ab" * 32
    _forge(tracked, b"", raw_env=absent)
    assert _env(tracked)["problem"] == f"environment object {absent[:12]} is missing"
    checked = tracked.run("verify")
    assert checked.code != 0 and "environment of commit" in checked.out + checked.err
    tracked.ok("remote", "add", "--init", "origin", str(tmp_path / "remote"))
    pushed = tracked.run("push")
    assert pushed.code != 0 and "Traceback" not in pushed.err
    assert absent in pushed.err and "(the environment of commit" in pushed.err


def test_run_records_the_seeds_it_was_given(tracked: Project) -> None:
    """Seeds where given: options and overrides named *seed*, and SEED environment
    variables, in the environment record, shown by show and the review; a value too long
    to be a seed, or an option without a value, is not recorded."""
    env = {**tracked.env, "PYTHONHASHSEED": "0", "MY_SEED": "x" * 65}
    command = [sys.executable, "-c", WRITE_OUT, "--seed", "7", "--data-seed=3", "seed=11"]
    tracked.ok("run", "-o", "out", "--", *command, "--lr", "0.1", "--last-seed", env=env)
    recorded = _env(tracked)["environment"]
    assert isinstance(recorded, dict)
    assert recorded["seeds"] == [
        ["--seed", "7"],
        ["--data-seed", "3"],
        ["seed", "11"],
        ["$PYTHONHASHSEED", "0"],
    ]
    assert "Env:    seed: --seed = 7" in tracked.ok("show").out
