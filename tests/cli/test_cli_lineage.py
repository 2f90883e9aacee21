"""Lineage, run/rerun and reproducibility reviews through the real command line."""

from __future__ import annotations

import html.parser
import json
import subprocess
from pathlib import Path

from blake3 import blake3

from .helpers import Project, git, git_project


class _Collector(html.parser.HTMLParser):
    """Collects tags and the embedded JSON of a generated page."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.script_id: str | None = None
        self.data = ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.script_id = dict(attrs).get("id") if tag == "script" else None

    def handle_data(self, data: str) -> None:
        if self.script_id:
            self.data += data


def _derived(tracked: Project) -> tuple[str, str]:
    """v1 of data, then labels derived from it with a recorded source script."""
    v1 = tracked.head()
    tracked.write("gen.py", "print('make labels')\n")
    tracked.write("labels/l.json", '{"a": 1}\n')
    tracked.ok("add", "labels", "--kind", "labels")
    tracked.ok("commit", "-m", "labels", "--input", f"data@{v1}", "--source", "gen.py")
    return v1, tracked.head()


def test_commit_records_inputs_and_sources(tracked: Project) -> None:
    """--input records the input commit and tree; --source the script's content id."""
    v1, labels = _derived(tracked)
    meta = tracked.ok("show", "--json", labels).json()["meta"]
    assert meta["inputs"][0]["commit"] == v1
    assert meta["inputs"][0]["path"] == "data"
    data_tree = [e for e in tracked.ok("show", "--json", f"{v1}:").json() if e["name"] == "data"]
    assert meta["inputs"][0]["id"] == data_tree[0]["id"]
    source = meta["sources"][0]
    assert source["path"] == "gen.py"
    assert source["size"] == len("print('make labels')\n")
    content = b"print('make labels')\n"
    expected = blake3(b"blob %d\0" % len(content) + content).hexdigest()
    assert source["id"] == expected
    assert meta["user"] and meta["host"] and meta["command"][0] == "dvault"


def test_recorded_sources_survive_gc_and_travel_with_push_and_clone(
    tracked: Project, tmp_path: Path
) -> None:
    """The source script's content a commit recorded is kept by gc and sent by push: a
    clone can still show what generated the labels (it was swept and never pushed)."""
    from dvault.hashing import ObjectId
    from dvault.repo import Repo

    _, labels = _derived(tracked)
    source = ObjectId(
        bytes.fromhex(tracked.ok("show", "--json", labels).json()["meta"]["sources"][0]["id"])
    )
    tracked.ok("gc")
    with Repo.open(tracked.root) as repo:
        assert repo.store.has(source)
    tracked.ok("remote", "add", "--init", "backup", str(tmp_path / "backup"))
    tracked.ok("push", "backup")
    Project(tmp_path, tracked.env).ok("clone", str(tmp_path / "backup"), str(tmp_path / "copy"))
    with Repo.open(tmp_path / "copy") as repo:
        assert repo.store.get_raw(source)[1] == b"print('make labels')\n"


def test_lineage_follows_inputs_in_every_format(tracked: Project) -> None:
    """text, json, dot and html all show the labels commit derived from the data commit."""
    v1, labels = _derived(tracked)
    text = tracked.ok("lineage", labels).out
    assert labels[:12] in text and v1[:12] in text and "derived from: data@" in text
    graph = tracked.ok("lineage", labels, "--format", "json").json()
    edges = {(e["source"], e["target"], e["kind"]) for e in graph["edges"]}
    assert (labels, v1, "input") in edges
    dot = tracked.ok("lineage", labels, "--format", "dot").out
    assert dot.startswith("digraph lineage {") and f'"{labels}" -> "{v1}"' in dot
    page = tracked.ok("lineage", labels, "--format", "html").out
    parser = _Collector()
    parser.feed(page)
    assert {"html", "svg", "section"} <= set(parser.tags)
    embedded = json.loads(parser.data)
    assert embedded["root"] == labels and len(embedded["nodes"]) >= 2


def test_unknown_lineage_format_is_a_usage_error(tracked: Project) -> None:
    """A bad --format is exit 2 with one error line."""
    result = tracked.fails(2, "lineage", "--format", "pdf")
    assert "unknown format" in result.err


def test_run_commits_outputs_and_rerun_reproduces(tracked: Project) -> None:
    """run commits what the command wrote; rerun of a deterministic command matches."""
    result = tracked.ok(
        "run",
        "--output",
        "feat",
        "--input",
        "data@HEAD",
        "--",
        "sh",
        "-c",
        "mkdir -p feat && cat data/a.txt data/b.txt > feat/all.txt",
    )
    assert "committed outputs" in result.out
    head = tracked.head()
    meta = tracked.ok("show", "--json", head).json()["meta"]
    assert meta["run"]["command"][0] == "sh" and meta["run"]["outputs"] == ["feat"]
    assert (tracked.root / "feat/all.txt").read_text() == "alpha\nbravo\n"
    assert tracked.ok("rerun", "--yes", head).code == 0


def test_rerun_reports_differences(tracked: Project) -> None:
    """A command whose output changes between runs is reported as not reproduced (exit 1)."""
    tracked.ok("run", "--output", "stamp.txt", "--", "sh", "-c", "date +%s%N > stamp.txt")
    result = tracked.run("rerun", "--yes", "HEAD")
    assert result.code == 1, result.describe()
    assert "differs: stamp.txt" in result.out
    assert "NOT reproduced" in result.err


def test_failed_run_commits_nothing(tracked: Project) -> None:
    """A failing command leaves history unchanged and exits 1."""
    before = tracked.head()
    result = tracked.run("run", "--output", "x.txt", "--", "sh", "-c", "echo hi > x.txt; exit 3")
    assert result.code == 1
    assert tracked.head() == before


def _git(root: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=root, check=True, capture_output=True)


def _git_project(tmp_path: Path, env: dict[str, str]) -> Project:
    proj = git_project(tmp_path / "gitproj", env)
    proj.write("train.py", "print('train')\n")
    proj.write("data/a.txt", "alpha\n")
    proj.ok("add", "data")
    proj.ok("commit", "-m", "v1")
    git(proj, "add", "-A")
    git(proj, "commit", "-qm", "code+pin")
    return proj


def test_review_is_reproducible_only_with_a_complete_remote(
    tmp_path: Path, env: dict[str, str]
) -> None:
    """review exits 1 with no remote, 0 once the data is pushed, 1 when a pack is lost."""
    proj = _git_project(tmp_path, env)
    report = proj.run("review")
    assert report.code == 1 and "NOT reproducible" in report.out
    remote = tmp_path / "remote"
    proj.ok("remote", "add", "--init", "origin", str(remote))
    proj.ok("push")
    report = proj.ok("review", "--read-data")
    assert "| **PASS** | Data recoverable from a remote |" in report.out  # the other checks:
    assert "**Verdict: NOT reproducible**" in report.out  # not signed, no datasheet, ...
    assert "| data | dataset | 1 | 6 |" in report.out
    data = proj.ok("review", "--format", "json").json()
    assert data["reproducible"] is True and data["remotes"][0]["status"] == "complete"
    page = proj.ok("review", "--format", "html").out
    parser = _Collector()
    parser.feed(page)
    assert json.loads(parser.data)["data"]["commit"] == data["data"]["commit"]
    for pack in (remote / "packs").glob("*.pack"):
        pack.chmod(0o644)
        pack.unlink()
    lost = proj.run("review", "--format", "json")
    assert lost.code == 1
    assert lost.json()["remotes"][0]["status"] in ("incomplete", "unreachable")


def test_review_without_a_pin_is_a_usage_error(tmp_path: Path, env: dict[str, str]) -> None:
    """A git revision with no dvault.lock cannot be reviewed: exit 2, one line."""
    proj = _git_project(tmp_path, env)
    subprocess.run(["git", "rm", "-q", "dvault.lock"], cwd=proj.root, check=True, env=proj.env)
    subprocess.run(["git", "commit", "-qm", "no pin"], cwd=proj.root, check=True, env=proj.env)
    result = proj.fails(2, "review")
    assert "no dvault.lock" in result.err
