"""The review's honest verdict (issue 21) through the real command line: a clean, signed,
pushed (data and git), environment-captured, rerun-verified commit with complete datasheets
is "reproducible"; taking away exactly one of those flips exactly its check."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import pytest

from dvault.verdict import CHECKS, FAIL, NOT_RECORDED, PASS

from .helpers import Project, Result, git, git_project, one_error_line
from .test_cli_datasheets import COMPLETE

TRAIN = """\
import os, shutil
os.makedirs("models", exist_ok=True)
with open("data/a.txt", "rb") as f:
    weights = f.read() * 3
with open("models/net.bin", "wb") as f:
    f.write(weights)
shutil.copy("model_datasheet.toml", "models/datasheet.toml")
"""

PYTHON = ["--", sys.executable, "train.py"]
"""The command: the test's own Python, so the environment is that interpreter's."""


def _trust(proj: Project) -> None:
    """The user's key, trusted in git (.dvaultsigners as committed)."""
    line = proj.ok("key", "export").out.strip()
    (proj.root / ".dvaultsigners").write_text(line + "\n")
    git(proj, "add", ".dvaultsigners")
    git(proj, "commit", "-qm", "trust a signer")


def _build(
    tmp_path: Path,
    env: dict[str, str],
    *,
    push_data: bool = True,
    push_code: bool = True,
    dirty: bool = False,
    dirty_input: bool = False,
    command: list[str] = PYTHON,
    rerun: bool = True,
    sign: bool = True,
    trust: bool = True,
    sheet: str = COMPLETE,
) -> Project:
    """A git project whose HEAD pins a `dvault run` of train.py over data, with every
    element of a reproducible review unless a keyword takes it away."""
    proj = git_project(tmp_path / "proj", env)
    proj.ok("key", "generate")
    if trust:
        _trust(proj)
    proj.write("data/a.txt", "alpha\n")
    proj.write("data/datasheet.toml", sheet)
    proj.ok("add", "data")
    proj.ok("commit", "-m", "data v1")
    proj.write("train.py", TRAIN)
    proj.write("model_datasheet.toml", COMPLETE.replace("Pets", "Pet classifier"))
    proj.write("README.md", "a project\n")
    git(proj, "add", "-A")
    git(proj, "commit", "-qm", "code")
    if dirty:
        proj.write("README.md", "an edit not committed\n")
    if dirty_input:
        proj.write("data/a.txt", "an edit not committed to dvault\n")
    run = ["run", "--input", "data@HEAD", "-o", "models", *(["--sign"] if sign else [])]
    if dirty_input:
        run.append("--allow-dirty")
    proj.ok(*run, *command)
    git(proj, "add", "-A")
    git(proj, "commit", "-qm", "train: pin the model")
    if push_code:
        subprocess_git(proj, "init", "-q", "--bare", str(tmp_path / "code.git"))
        git(proj, "remote", "add", "origin", str(tmp_path / "code.git"))
        git(proj, "push", "-q", "origin", "main")
    if push_data:
        proj.ok("remote", "add", "--init", "origin", str(tmp_path / "data-remote"))
        proj.ok("push")
    if rerun:
        proj.ok("rerun", "--yes", "HEAD")
    return proj


def subprocess_git(proj: Project, *args: str) -> None:
    import subprocess

    subprocess.run(["git", *args], check=True, env=proj.env, capture_output=True)


def _review(proj: Project, *args: str) -> tuple[Result, dict[str, Any], dict[str, dict[str, Any]]]:
    result = proj.run("review", "--json", *args)
    assert result.code in (0, 1), result.describe()
    assert "Traceback" not in result.err
    doc = result.json()
    return result, doc, {c["name"]: c for c in doc["checks"]}


def _only(checks: dict[str, dict[str, Any]], name: str, status: str) -> dict[str, Any]:
    """Exactly ``name`` is not a pass, and it is ``status`` with a fix to offer."""
    assert list(checks) == list(CHECKS)
    others = {n: c["status"] for n, c in checks.items() if n != name}
    assert set(others.values()) == {PASS}, {n: checks[n] for n in others if others[n] != PASS}
    flipped = checks[name]
    assert flipped["status"] == status, flipped
    assert flipped["fix"], flipped
    return flipped


def test_a_fully_recorded_commit_is_reproducible(tmp_path: Path, env: dict[str, str]) -> None:
    """Every check passes, with the reason naming what it read; the verdict says
    "reproducible" and --require all exits 0."""
    proj = _build(tmp_path, env)
    result, doc, checks = _review(proj, "--require", "all")
    assert result.code == 0, {n: c for n, c in checks.items() if c["status"] != PASS}
    assert doc["verdict"] == "reproducible"
    assert doc["required"] == list(CHECKS) and doc["required_failed"] == []
    assert all(c["status"] == PASS and c["fix"] is None for c in checks.values())
    assert "remote origin" in checks["data_recoverable"]["reason"]
    assert "no retention lock" in checks["data_recoverable"]["reason"]  # a directory remote
    assert "origin/main" in checks["code_pushed"]["reason"]
    assert "good signature by default" in checks["signed"]["reason"]
    assert "byte for byte" in checks["rerun_verified"]["reason"]
    assert "code: the work tree's, at git " in checks["rerun_verified"]["reason"]
    record = doc["rerun"]["record"]
    assert record["matches"] is True and record["commit"] == doc["data"]["commit"]
    (output,) = record["outputs"]
    assert output["path"] == "models" and output["recorded"] == output["reproduced"]


def test_no_data_pushed_fails_data_recoverable(tmp_path: Path, env: dict[str, str]) -> None:
    proj = _build(tmp_path, env, push_data=False)
    result, doc, checks = _review(proj)
    check = _only(checks, "data_recoverable", FAIL)
    assert "no remote is configured" in check["reason"]
    assert check["fix"].startswith("dvault remote add --init origin ")
    assert doc["verdict"] == "not reproducible" and result.code == 1
    proj.ok("remote", "add", "--init", "origin", str(tmp_path / "later"))
    _, _, checks = _review(proj)
    check = _only(checks, "data_recoverable", FAIL)  # configured, but nothing pushed
    assert "remote origin (" in check["reason"] and "is missing" in check["reason"]
    assert check["fix"] == "dvault push origin"


def test_code_not_pushed_fails_code_pushed(tmp_path: Path, env: dict[str, str]) -> None:
    """No git remote at all, then a remote the commit was never pushed to."""
    proj = _build(tmp_path, env, push_code=False)
    result, doc, checks = _review(proj)
    check = _only(checks, "code_pushed", FAIL)
    assert "no git remote is configured" in check["reason"]
    assert check["fix"] == "git remote add origin URL && git push -u origin main"
    assert result.code == 0  # without --require, the exit code is what it always was
    subprocess_git(proj, "init", "-q", "--bare", str(tmp_path / "code.git"))
    git(proj, "remote", "add", "origin", str(tmp_path / "code.git"))
    _, doc, checks = _review(proj)
    check = _only(checks, "code_pushed", FAIL)
    assert f"git commit {doc['git_commit'][:12]}" in check["reason"]
    assert "on no remote-tracking branch" in check["reason"]
    assert check["fix"] == "git push origin main"
    git(proj, "push", "-q", "origin", "main")
    assert _review(proj)[1]["verdict"] == "reproducible"


def test_a_dirty_git_work_tree_fails_worktree_clean(tmp_path: Path, env: dict[str, str]) -> None:
    proj = _build(tmp_path, env, dirty=True)
    _, _, checks = _review(proj)
    check = _only(checks, "worktree_clean", FAIL)
    assert "changes not committed to git" in check["reason"]
    assert check["fix"].startswith("git commit -am ")
    assert "dvault run --input data@HEAD -o models --sign -- " in check["fix"]


def test_an_input_recorded_with_allow_dirty_fails_worktree_clean(
    tmp_path: Path, env: dict[str, str]
) -> None:
    """What the command read was not the input's revision: worktree_clean fails naming
    it, and no rerun can be recorded (rerun refuses such a run), so that stays not
    recorded; everything else passes."""
    proj = _build(tmp_path, env, dirty_input=True, rerun=False)
    assert proj.run("rerun", "HEAD").code == 1
    _, _, checks = _review(proj)
    check = checks["worktree_clean"]
    assert check["status"] == FAIL
    assert "data@HEAD were recorded with --allow-dirty" in check["reason"]
    assert check["fix"].startswith("dvault checkout HEAD -- data && dvault run ")
    assert "--allow-dirty" not in check["fix"]
    assert checks["rerun_verified"]["status"] == NOT_RECORDED
    rest = {
        n: c["status"] for n, c in checks.items() if n not in ("worktree_clean", "rerun_verified")
    }
    assert set(rest.values()) == {PASS}, rest


def test_a_commit_not_made_by_run(tmp_path: Path, env: dict[str, str]) -> None:
    """A pin made by `dvault commit`: no command to rerun and no environment, so both
    are not recorded, each with the command that records them."""
    proj = git_project(tmp_path / "proj", env)
    proj.write("data/a.txt", "alpha\n")
    proj.write("data/datasheet.toml", COMPLETE)
    proj.ok("add", "data")
    proj.ok("commit", "-m", "data v1")
    git(proj, "add", "-A")
    git(proj, "commit", "-qm", "pin")
    _, doc, checks = _review(proj)
    assert doc["verdict"] == "not reproducible"
    assert checks["worktree_clean"]["status"] == PASS  # commit records git's state too
    assert checks["rerun_verified"]["status"] == NOT_RECORDED
    assert "not made by dvault run" in checks["rerun_verified"]["reason"]
    assert checks["rerun_verified"]["fix"].startswith("dvault run --input INPUT@REV -o OUTPUT")
    assert checks["environment_captured"]["status"] == NOT_RECORDED
    assert checks["environment_captured"]["fix"] == "dvault commit --env -m MESSAGE"
    assert checks["signed"]["fix"] == "dvault commit --env --sign -m MESSAGE"
    assert checks["datasheet_complete"]["status"] == PASS


def test_no_interpreter_fails_environment_captured(tmp_path: Path, env: dict[str, str]) -> None:
    """A command run through a shell: the environment recorded is dvault's own Python,
    not the command's, which an auditor must not be told is "captured"."""
    proj = _build(tmp_path, env, command=["--", "sh", "-c", f"{sys.executable} train.py"])
    _, doc, checks = _review(proj)
    check = _only(checks, "environment_captured", FAIL)
    assert "dvault's own Python" in check["reason"]
    assert doc["environment"]["environment"]["interpreter"] == "dvault"


def test_no_rerun_leaves_rerun_verified_not_recorded(tmp_path: Path, env: dict[str, str]) -> None:
    proj = _build(tmp_path, env, rerun=False)
    _, doc, checks = _review(proj)
    check = _only(checks, "rerun_verified", NOT_RECORDED)
    assert check["fix"] == f"dvault rerun {doc['data']['commit'][:12]}"
    assert doc["rerun"] == {"record": None, "problem": None}
    proj.ok("rerun", "HEAD")  # signed by a trusted signer: it runs without --yes
    assert _review(proj)[1]["verdict"] == "reproducible"


def test_a_rerun_that_differs_fails_rerun_verified(tmp_path: Path, env: dict[str, str]) -> None:
    """The command changes the data it reads between run and rerun: no match, recorded."""
    proj = _build(tmp_path, env, rerun=False)
    with open(proj.root / "train.py", "a") as f:
        f.write("open('models/net.bin', 'ab').write(b'drift')\n")
    assert proj.run("rerun", "HEAD").code == 1
    _, _, checks = _review(proj)
    check = _only(checks, "rerun_verified", FAIL)
    assert "did NOT reproduce" in check["reason"] and "differs: models/net.bin" in check["reason"]


def test_an_unsigned_commit_leaves_signed_not_recorded(tmp_path: Path, env: dict[str, str]) -> None:
    """A commit cannot be signed afterwards: the fix records it again with --sign."""
    proj = _build(tmp_path, env, sign=False)
    _, _, checks = _review(proj)
    check = _only(checks, "signed", NOT_RECORDED)
    assert check["fix"].startswith("dvault run --input data@HEAD -o models --sign -- ")


def test_an_untrusted_signer_fails_signed(tmp_path: Path, env: dict[str, str]) -> None:
    """Signed by a key nobody trusts: fail, fixed by trusting that key in git."""
    proj = _build(tmp_path, env, trust=False)
    _, doc, checks = _review(proj)
    check = _only(checks, "signed", FAIL)
    key = doc["signature"]["key"]
    assert "not a trusted signer" in check["reason"]
    assert f"ed25519:{key}' >> .dvaultsigners" in check["fix"]


def test_a_missing_datasheet_field_fails_datasheet_complete(
    tmp_path: Path, env: dict[str, str]
) -> None:
    proj = _build(tmp_path, env, sheet=COMPLETE.replace('licence = "CC-BY-4.0"\n', ""))
    _, _, checks = _review(proj)
    check = _only(checks, "datasheet_complete", FAIL)
    assert check["reason"] == "data: missing licence"
    assert check["fix"].startswith("dvault datasheet check data")


def test_require_decides_the_exit_code(tmp_path: Path, env: dict[str, str]) -> None:
    """--require fails (exit 1, after the report, one line naming them) only on the
    checks asked for; unknown names are a usage error naming the valid ones."""
    proj = _build(tmp_path, env, sheet=COMPLETE.replace('licence = "CC-BY-4.0"\n', ""))
    assert proj.run("review").code == 0  # data recoverable, signature good
    result = proj.run("review", "--require", "signed, code_pushed")
    assert result.code == 0 and "required" not in result.err
    result = proj.run("review", "--require", "datasheet_complete,signed")
    assert result.code == 1
    assert "# Reproducibility review" in result.out  # the report is printed first
    assert result.err == "dvault: required check(s) did not pass: datasheet_complete\n"
    result = proj.run("review", "--json", "--require", "all")
    assert result.code == 1
    assert result.json()["required_failed"] == ["datasheet_complete"] and result.err == ""
    for bad in ("sigend", "all,nope", ","):
        result = proj.fails(2, "review", "--require", bad)
        line = one_error_line(result)
        assert "unknown check" in line and "code_pushed" in line and "datasheet_complete" in line
        assert result.out == ""


@pytest.fixture
def rerun_done(tmp_path: Path, env: dict[str, str]) -> tuple[Project, Path, str]:
    proj = _build(tmp_path, env)
    commit = proj.ok("review", "--json").json()["data"]["commit"]
    return proj, proj.root / ".dvault" / "reruns" / f"{commit}.json", commit


def _hostile_records(path: Path, commit: str, other: str) -> dict[str, Any]:
    good = json.loads(path.read_text())
    forged_ids = json.loads(path.read_text())
    forged_ids["outputs"][0]["recorded"] = forged_ids["outputs"][0]["reproduced"] = other
    lying = json.loads(path.read_text())
    lying["exit"] = 3
    return {
        "junk": b"\x00\xffnot json at all",
        "oversized": b"{" + b" " * (2 << 20) + b"}",
        "another commit": json.dumps({**good, "commit": other}).encode(),
        "contradiction": json.dumps(lying).encode(),
        "forged ids": json.dumps(forged_ids).encode(),
        "extra key": json.dumps({**good, "verified_by": "ci"}).encode(),
        "nested": b"[" * 100000 + b"]" * 100000,
        "symlink": None,
    }


def test_a_hostile_rerun_record_is_refused(rerun_done: tuple[Project, Path, str]) -> None:
    """Junk, a 2 MiB file, another commit's record, a record whose verdict contradicts
    its own exit status, ids the commit does not record, unknown keys, deep nesting, a
    symlink: each is refused in one line (rerun_verified fails, naming the fix), never
    counted as a pass and never a traceback; a real rerun replaces it."""
    proj, path, commit = rerun_done
    other = "ab" * 32
    for name, body in _hostile_records(path, commit, other).items():
        path.chmod(0o644)
        path.unlink()
        if body is None:
            real = path.with_name("elsewhere.json")
            os.symlink(real, path)
        else:
            path.write_bytes(body)
        result, doc, checks = _review(proj)
        check = _only(checks, "rerun_verified", FAIL)
        assert check["reason"].startswith("the rerun record is not valid"), (name, check)
        assert "\n" not in check["reason"] and len(check["reason"]) < 400, name
        assert check["fix"] == f"dvault rerun {commit[:12]}", name
        assert doc["rerun"]["record"] is None and doc["rerun"]["problem"], name
        assert result.code == 0, name  # the exit code without --require is unchanged
    path.unlink()
    proj.ok("rerun", "HEAD")
    assert _review(proj)[1]["verdict"] == "reproducible"


def test_a_single_file_root_needs_no_datasheet(tmp_path: Path, env: dict[str, str]) -> None:
    """A checkpoint tracked as one file cannot hold datasheet.toml (datasheet init refuses
    it): the check asks none of it and says so, instead of failing forever."""
    proj = git_project(tmp_path / "proj", env)
    proj.write("data/a.txt", "alpha\n")
    proj.write("data/datasheet.toml", COMPLETE)
    proj.write("checkpoints/model.bin", "weights")
    proj.ok("add", "data", "checkpoints/model.bin")
    proj.ok("commit", "-m", "data and a checkpoint")
    git(proj, "add", "-A")
    git(proj, "commit", "-qm", "pin")
    _, doc, checks = _review(proj)
    sheet = checks["datasheet_complete"]
    assert sheet["status"] == PASS, sheet
    assert "checkpoints/model.bin" in sheet["reason"] and "single-file" in sheet["reason"]
    exempt = {d["root"]: d.get("exempt") for d in doc["datasheets"]}
    assert exempt["data"] is None and "single file" in exempt["checkpoints/model.bin"]
    page = proj.run("review").out
    assert "not required: a single file" in page
