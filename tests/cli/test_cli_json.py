"""--json: every command that prints data has it; stdout is one JSON document with the keys
docs/cli.md lists; errors are one JSON line on stderr with the usual exit codes."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from .helpers import Project, Run, command_tree

NO_JSON = {("demo",), ("hook",), ("completion",)}
"""Commands without --json: a walk-through, the git hooks' entry point, a shell script."""


def _keys(doc: dict[str, Any], *keys: str) -> None:
    assert set(doc) == set(keys), sorted(doc)


def test_every_data_command_has_json() -> None:
    """A new command must take --json or be listed here as printing no data."""
    import click

    leaves = {w: cmd for w, cmd in command_tree().items() if not isinstance(cmd, click.Group)}
    assert len(leaves) > 30
    missing = [
        " ".join(words)
        for words, cmd in leaves.items()
        if words not in NO_JSON and not any("--json" in p.opts for p in cmd.params)
    ]
    assert not missing, f"commands without --json: {missing}"


def test_json_documents_of_the_local_commands(project: Project, tmp_path: Path) -> None:
    """init, add, rm, commit, status, log, show, diff, checkout, branch, tag, gc, repair,
    verify, lineage: each prints exactly one JSON document with its documented keys."""
    init = project.run("init", "other", "--json")
    assert init.code == 0 and Path(init.json()["repository"]).name == ".dvault"
    project.write("data/a.txt", "alpha\n")
    project.write("data/junk.txt", "junk\n")
    added = project.ok("add", "data", "--json").json()
    _keys(added, "added", "modified", "deleted", "unchanged", "bytes_read", "bytes_stored")
    assert added["added"] == 2
    removed = project.ok("rm", "--cached", "data/junk.txt", "--json").json()
    assert removed == {"removed": ["data/junk.txt"], "cached": True}
    (project.root / "data" / "junk.txt").unlink()  # else commit -a takes it back
    first = project.ok("commit", "-m", "first", "--json").json()
    _keys(first, "branch", "id", "tree", "parents", "author", "time_ns", "message", "roots", "meta")
    assert first["branch"] == "main" and first["parents"] == []
    project.write("data/a.txt", "changed\n")
    second = project.ok("commit", "-a", "-m", "second", "--json").json()
    assert second["parents"] == [first["id"]]

    assert project.ok("log", "--json").json()[0]["id"] == second["id"]
    shown = project.ok("show", "HEAD", "--json").json()
    assert shown["changes"][0]["path"] == "data/a.txt"
    listing = project.ok("show", "HEAD:data", "--json").json()
    assert [e["name"] for e in listing] == ["a.txt"]
    blob = project.ok("show", "HEAD:data/a.txt", "--json").json()
    _keys(blob, "commit", "path", "type", "mode", "size", "id")
    assert (blob["path"], blob["type"], blob["mode"], blob["size"]) == (
        "data/a.txt",
        "file",
        "100644",
        8,
    )
    diff = project.ok("diff", first["id"], second["id"], "--json").json()
    assert [(c["path"], c["status"]) for c in diff] == [("data/a.txt", "modified")]

    made = project.ok("branch", "old", first["id"], "--json").json()
    assert made == {"action": "created", "name": "old", "id": first["id"]}
    branches = project.ok("branch", "--json").json()
    assert {b["name"]: b["current"] for b in branches} == {"main": True, "old": False}
    tag = project.ok("tag", "v1", first["id"], "-m", "baseline", "--json").json()
    _keys(tag, "name", "id", "commit", "message", "tagger", "time_ns", "signed")
    assert (tag["commit"], tag["signed"]) == (first["id"], False)
    assert project.ok("tag", "--json").json() == [tag]

    moved = project.ok("checkout", "old", "--json").json()
    _keys(
        moved,
        "rev",
        "commit",
        "branch",
        "head",
        "paths",
        "written",
        "removed",
        "bytes_written",
        "kept_in",
        "erased",
    )
    assert (moved["commit"], moved["branch"], moved["written"]) == (first["id"], "old", 1)
    back = project.ok("checkout", "main", "--json")
    assert back.json()["branch"] == "main"
    deleted = project.ok("branch", "-d", "old", "--json").json()
    assert deleted == {"action": "deleted", "name": "old", "id": first["id"]}

    verified = project.ok("verify", "--read-data", "--json").json()
    assert verified["ok"] is True and verified["problems"] == []
    assert verified["signatures"]["unsigned"] >= 2
    collected = project.ok("gc", "--dry-run", "--json").json()
    assert collected["dry_run"] is True and collected["live_objects"] > 0
    repaired = project.ok("repair", "--json").json()
    assert repaired["ok"] is True and repaired["unrecoverable"] == []
    graph = project.ok("lineage", "--json")
    assert graph.json() == project.ok("lineage", "--format", "json").json()
    assert project.fails(2, "lineage", "--json", "--format", "dot").out == ""


def test_json_documents_of_remote_commands(project: Project, tmp_path: Path) -> None:
    """remote add/list/remove, push, fetch, pull and clone summaries."""
    project.write("data/a.txt", "alpha\n")
    project.ok("add", "data")
    head = project.ok("commit", "-m", "first", "--json").json()["id"]
    store = tmp_path / "store"
    remote = project.ok("remote", "add", "--init", "origin", str(store), "--json").json()
    assert remote == {"name": "origin", "url": str(store)}
    assert project.ok("remote", "list", "--json").json() == [remote]
    pushed = project.ok("push", "--json").json()
    assert pushed["updated"] == {"refs/heads/main": head} and pushed["packs_sent"] > 0
    assert project.ok("push", "--json").json()["up_to_date"] is True
    fetched = project.ok("fetch", "origin", "--json").json()
    _keys(
        fetched,
        *("remote", "url", "refs", "objects", "bytes_received", "packs_downloaded"),
        "ranges_read",
    )
    assert fetched["refs"] == {"refs/heads/main": head}
    pulled = project.ok("pull", "--json").json()
    assert pulled["up_to_date"] is True
    cloned = project.run("clone", str(store), "copy", "--json", cwd=tmp_path)
    assert cloned.code == 0, cloned.describe()
    assert cloned.json()["written"] == 1
    assert Path(cloned.json()["directory"]) == (tmp_path / "copy").resolve()
    gone = project.ok("remote", "remove", "origin", "--json").json()
    assert gone == {"action": "removed", "name": "origin"}


def test_key_commands_json(project: Project) -> None:
    made = project.ok("key", "generate", "ci", "--json").json()
    _keys(made, "name", "fingerprint", "public_key", "path", "signer_line")
    assert project.ok("key", "list", "--json").json() == [made]
    assert project.ok("key", "export", "--json").json() == made


def test_run_json_keeps_the_child_output_off_stdout(project: Project) -> None:
    """`run --json`: what the command prints goes to stderr; stdout is the document."""
    script = "import pathlib; print('hello from the job'); " + (
        "p = pathlib.Path('out'); p.mkdir(exist_ok=True); (p / 'r.txt').write_text('r')"
    )
    result = project.ok("run", "--json", "-o", "out", "--", "python3", "-c", script)
    doc = result.json()
    _keys(doc, "command", "exit_code", "seconds", "commit", "inputs")
    assert doc["exit_code"] == 0 and doc["commit"] == project.head()
    assert "hello from the job" in result.err
    again = project.ok("rerun", "HEAD", "--yes", "--json")
    rerun = again.json()
    record = rerun.pop("record")
    assert rerun == {"rev": "HEAD", "matches": True, "differences": [], "code": ""}
    assert record["commit"] == doc["commit"] and record["matches"] is True
    (output,) = record["outputs"]
    assert output["path"] == "out" and output["recorded"] == output["reproduced"]
    failed = project.run("run", "--json", "-o", "out", "--", "python3", "-c", "exit(4)")
    assert failed.code == 1 and failed.json()["commit"] is None


def test_verify_json_reports_damage_with_exit_1(project: Project) -> None:
    """Damage is data: ok false, the problems listed (naming the file), exit 1, stderr
    empty."""
    payload = os.urandom(4096)  # incompressible: stored as is, so it can be found
    project.write("data/blob.bin", payload)
    project.ok("add", "data")
    project.ok("commit", "-m", "x")
    for pack in (project.root / ".dvault" / "packs").glob("*.pack"):
        raw = bytearray(pack.read_bytes())
        at = raw.find(payload[:64])
        if at >= 0:
            raw[at + 100] ^= 0xFF
            pack.write_bytes(bytes(raw))
            break
    else:
        pytest.fail("payload not found in any pack")
    result = project.run("verify", "--read-data", "--json")
    assert result.code == 1, result.describe()
    doc = result.json()
    assert doc["ok"] is False
    assert any("data/blob.bin" in p for p in doc["problems"]), doc["problems"]
    assert result.err == ""


def test_errors_with_json_are_one_json_line_on_stderr(run: Run, project: Project) -> None:
    """With --json an error is one JSON object on stderr (message, exit_code, type) and
    stdout stays empty; the exit codes are the usual ones."""
    cases = [
        (run("status", "--json"), 3, "NotARepository"),
        (project.run("log", "no-such-rev", "--json"), 2, "UnknownRevision"),
        (project.run("commit", "-m", "x", "--json"), 1, "NothingToCommit"),
        (project.run("log", "-n", "many", "--json"), 2, "UsageError"),
        (project.run("status", "--json", "--bogus"), 2, "UsageError"),
    ]
    for result, code, kind in cases:
        assert result.code == code, result.describe()
        assert result.out == "", result.describe()
        lines = result.err.splitlines()
        assert len(lines) == 1, result.describe()
        error = json.loads(lines[0])["error"]
        assert (error["exit_code"], error["type"]) == (code, kind), error
        assert error["message"] and "\n" not in error["message"]


def test_errors_without_json_stay_text(project: Project) -> None:
    result = project.run("log", "-n", "many")
    assert result.code == 2
    assert result.err.startswith("dvault: error: invalid value for '-n'")
    assert result.err.count("\n") == 1


@pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")
def test_hooks_json(tmp_path: Path, env: dict[str, str]) -> None:
    root = tmp_path / "g"
    root.mkdir()
    subprocess.run(["git", "init", "-q", "-b", "main"], cwd=root, check=True, env=env)
    proj = Project(root, env)
    proj.ok("init")
    rows = proj.ok("hooks", "install", "--json").json()
    hooks = {"post-checkout", "post-merge", "pre-commit", "pre-push"}
    assert {r["hook"] for r in rows} == hooks | {"merge-driver"}
    assert all(r["result"].startswith("installed") for r in rows if r["hook"] in hooks)
    assert {r["hook"] for r in proj.ok("hooks", "uninstall", "--json").json()} == {
        r["hook"] for r in rows
    }
