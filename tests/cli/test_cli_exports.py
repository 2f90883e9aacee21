"""The exports through the real command line: ``review --manifest`` (CSV, JSON),
``lineage --format prov-json`` and ``--format openlineage``, validated against the
published schemas vendored under tests/schemas/ (tests/export_schemas.py)."""

from __future__ import annotations

import copy
import csv
import io
import json
import subprocess
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from blake3 import blake3

from dvault.commitobjects import Commit
from dvault.hashing import ObjectType
from dvault.repo import Repo
from dvault.treeobjects import MODE_DIR, MODE_FILE
from tests.export_schemas import validate_openlineage, validate_prov
from tests.security._trust_helpers import HOSTILE, assert_clean, craft, raw_tree, victim

from .helpers import Project, git, git_project, one_error_line

BIG = 1_200_000  # over the 1 MiB chunking threshold: stored as a chunk list


def _blob_id(content: bytes) -> str:
    return blake3(b"blob %d\0" % len(content) + content).hexdigest()


def _audited(tmp_path: Path, env: dict[str, str]) -> Project:
    """A git project with what an audit exports: a signed, tagged data commit made with a
    recorded source script, then a ``dvault run`` training a model from it, pinned and
    committed to git."""
    proj = git_project(tmp_path / "proj", env)
    proj.ok("key", "generate")
    proj.write(".dvaultsigners", proj.ok("key", "export").out.strip() + "\n")
    git(proj, "add", ".dvaultsigners")
    git(proj, "commit", "-qm", "trust a signer")
    proj.write("gen.py", "print('make data')\n")
    proj.write("data/a.txt", "alpha\n")
    proj.write("data/big.bin", bytes(range(256)) * (BIG // 256))
    proj.ok("add", "data")
    proj.ok("commit", "-m", "v1", "--source", "gen.py", "--sign")
    proj.ok("tag", "v1")
    proj.write(
        "train.py",
        "import os\nos.makedirs('models', exist_ok=True)\n"
        "open('models/m.bin', 'w').write(open('data/a.txt').read())\n",
    )
    proj.ok("run", "--input", "data@v1", "--output", "models", "--", "python3", "train.py")
    git(proj, "add", "-A")
    git(proj, "commit", "-qm", "train")
    return proj


def _git_head(proj: Project) -> str:
    return subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=proj.root, capture_output=True, text=True, check=True
    ).stdout.strip()


def _events(out: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in out.splitlines()]


# -- the manifest ---------------------------------------------------------------------


def test_manifest_csv_lists_every_pinned_file(tmp_path: Path, env: dict[str, str]) -> None:
    """review --manifest FILE.csv: one RFC 4180 row per pinned file with both commits,
    root, kind, path, size and the content id a blob's bytes hash to; the report still
    goes to stdout."""
    proj = _audited(tmp_path, env)
    result = proj.run("review", "--manifest", "../manifest.csv")
    assert result.code == 1, result.describe()  # no remote: not reproducible, still written
    assert result.out.startswith("# Reproducibility review")  # stdout is the report alone
    assert "manifest: 3 file(s) written" in result.err
    text = (tmp_path / "manifest.csv").read_bytes().decode()
    assert text.endswith("\r\n")
    rows = list(csv.DictReader(io.StringIO(text, newline="")))
    commit = proj.head()
    by_path = {r["path"]: r for r in rows}
    assert set(by_path) == {"data/a.txt", "data/big.bin", "models/m.bin"}
    assert {r["dvault_commit"] for r in rows} == {commit}
    assert {r["git_commit"] for r in rows} == {_git_head(proj)}
    a = by_path["data/a.txt"]
    assert (a["root"], a["kind"], a["type"], a["size"]) == ("data", "dataset", "file", "6")
    assert a["content_id"] == _blob_id(b"alpha\n") and a["object"] == "blob"
    big = by_path["data/big.bin"]
    assert big["object"] == "chunks" and int(big["size"]) == BIG // 256 * 256
    assert by_path["models/m.bin"]["kind"] == "checkpoint"


def test_manifest_json_has_a_header_and_every_file(tmp_path: Path, env: dict[str, str]) -> None:
    """--manifest FILE.json: the two commits, tool and what the id is in a header, then
    the files; nothing else is left in the folder (written through a renamed temp)."""
    proj = _audited(tmp_path, env)
    out = tmp_path / "out"
    out.mkdir()
    proj.run("review", "--manifest", str(out / "m.json"))
    assert [p.name for p in out.iterdir()] == ["m.json"]
    doc = json.loads((out / "m.json").read_text())
    assert doc["dvault_commit"] == proj.head() and doc["git_commit"] == _git_head(proj)
    assert doc["tool"].startswith("dvault ") and "blake3" in doc["content_id"]
    assert [f["path"] for f in doc["files"]] == ["data/a.txt", "data/big.bin", "models/m.bin"]
    assert doc["files"][0]["content_id"] == _blob_id(b"alpha\n")


@pytest.mark.parametrize(
    ("dest", "says"),
    [
        ("-", "the report itself goes to stdout"),
        ("manifest.txt", "must end in .csv or .json"),
        ("data/manifest.csv", "inside data"),
        ("models/sub/../m.json", "inside models"),
        (".dvault/m.csv", "inside .dvault"),
        ("nowhere/m.csv", "does not exist"),
        ("data.csv", "is a directory"),
    ],
)
def test_manifest_refuses_a_bad_destination(
    tmp_path: Path, env: dict[str, str], dest: str, says: str
) -> None:
    """A bad --manifest is one line, exit 2, before the review runs: nothing written."""
    proj = _audited(tmp_path, env)
    (proj.root / "data.csv").mkdir()
    before = sorted(p.relative_to(proj.root) for p in proj.root.rglob("*") if ".git" not in p.parts)
    result = proj.fails(2, "review", "--manifest", dest)
    assert says in one_error_line(result)
    assert result.out == ""
    after = sorted(p.relative_to(proj.root) for p in proj.root.rglob("*") if ".git" not in p.parts)
    assert after == before


def _hostile_pin(tmp_path: Path) -> Project:
    """A git project whose dvault.lock pins a crafted commit: file names with commas,
    quotes, newlines, a spreadsheet formula, a byte that is not UTF-8; a message, author
    and meta holding terminal escapes and values of every wrong shape."""
    proj = victim(tmp_path, git=True)
    files = {
        b'a,b"c\nd.txt': b"1",
        b'=HYPERLINK("x").csv': b"2",
        b"\xff.bin": b"3",
        b"ok.txt": b"4",
    }
    meta = {
        "run": {"command": {"not": "a list"}, "outputs": ["data", 7, None], "cwd": [1]},
        "inputs": [{"rev": HOSTILE, "path": f"data{HOSTILE}", "commit": "zz" * 32}, "junk"],
        "sources": [{"path": f"gen{HOSTILE}.py", "id": "not hex"}, {"id": 5}],
        "git": {"commit": f"{HOSTILE}deadbeef", "dirty": "maybe"},
        "user": {"nested": [1, 2]},
    }
    evil = craft(
        proj.root,
        author=f"Mallory{HOSTILE} <m@evil>",
        message=f"<script>{HOSTILE}\n\nbody",
        meta=meta,
        files=files,
    )
    lock = (
        f'version = 1\ncommit = "{evil}"\n\n[roots."data"]\n'
        f'kind = "dataset"\ntree = "{"ab" * 32}"\nsize = 1\nfiles = 1\n'
    )
    (proj.root / "dvault.lock").write_text(lock)
    subprocess.run(["git", "-C", str(proj.root), "add", "dvault.lock"], check=True, env=proj.env)
    subprocess.run(["git", "-C", str(proj.root), "commit", "-qm", "pin"], check=True, env=proj.env)
    return proj


def test_manifest_quotes_hostile_paths(tmp_path: Path) -> None:
    """Names with commas, quotes and newlines survive a CSV round trip exactly; a formula
    is shown, not evaluated (a leading '); a byte that is not UTF-8 is \\xff; the JSON
    holds the same names exactly."""
    proj = _hostile_pin(tmp_path)
    result = proj.run("review", "--manifest", str(tmp_path / "m.csv"))
    assert_clean(result)
    rows = list(csv.DictReader(io.StringIO((tmp_path / "m.csv").read_text(), newline="")))
    paths = [r["path"] for r in rows]
    assert 'data/a,b"c\nd.txt' in paths
    assert 'data/=HYPERLINK("x").csv' in paths  # starts with the root: inert
    assert "data/\\xff.bin" in paths and "data/ok.txt" in paths
    assert len(rows) == 4
    proj.run("review", "--manifest", str(tmp_path / "m.json"))
    names = [f["path"] for f in json.loads((tmp_path / "m.json").read_text())["files"]]
    assert names == paths  # the same rows, in the trees' (byte) order
    assert 'data/a,b"c\nd.txt' in names and "data/\\xff.bin" in names


def test_manifest_formula_cells_are_neutralised(tmp_path: Path) -> None:
    """A root a spreadsheet would evaluate (it starts with =) starts with ' in the CSV
    cells, the JSON keeps it exactly."""
    proj = victim(tmp_path, git=True)
    root = '=HYPERLINK("evil"&A1)'
    with Repo.open(proj.root) as repo, repo.store.writer() as w:
        inner = raw_tree(w, [(b"x.txt", MODE_FILE, 1, w.put_raw(ObjectType.BLOB, b"1"))])
        top = raw_tree(w, [(root.encode(), MODE_DIR, 1, inner)])
        evil = w.put(Commit(top, (), "M <m@x>", 1, "formula", {root: "dataset"})).hex()
    (proj.root / "dvault.lock").write_text(
        f'version = 1\ncommit = "{evil}"\n\n[roots.{json.dumps(root)}]\n'
        f'kind = "dataset"\ntree = "{"ab" * 32}"\nsize = 1\nfiles = 1\n'
    )
    git(proj, "add", "dvault.lock")
    git(proj, "commit", "-qm", "pin")
    proj.run("review", "--manifest", str(tmp_path / "m.csv"))
    (row,) = csv.DictReader(io.StringIO((tmp_path / "m.csv").read_text(), newline=""))
    assert row["root"] == "'" + root and row["path"] == f"'{root}/x.txt"
    proj.run("review", "--manifest", str(tmp_path / "m.json"))
    (entry,) = json.loads((tmp_path / "m.json").read_text())["files"]
    assert entry["root"] == root and entry["path"] == f"{root}/x.txt"


# -- PROV-JSON and OpenLineage --------------------------------------------------------


def test_prov_json_of_an_audited_project_validates(tmp_path: Path, env: dict[str, str]) -> None:
    """lineage --format prov-json: valid PROV-JSON (W3C submission schema) with the
    commits and roots (blake3 tree ids) as entities, the run as an activity that used the
    input root and the source-made data, the author and the trusted signer as agents,
    the tag on its commit."""
    proj = _audited(tmp_path, env)
    doc = proj.ok("lineage", "--format", "prov-json").json()
    validate_prov(doc)
    head, v1 = proj.head(), proj.ok("log", "-n", "1", "--json", "v1").json()[0]["id"]
    commit = doc["entity"][f"dvault:commit-{head}"]
    assert commit["prov:type"] == "dvault:Commit" and commit["dvault:signature"] == "unsigned"
    tagged = doc["entity"][f"dvault:commit-{v1}"]
    assert tagged["dvault:tag"] == ["v1"] and tagged["dvault:signature"] == "good"
    roots = [e for e in doc["entity"].values() if e.get("prov:type") == "dvault:Root"]
    assert {r["dvault:path"] for r in roots} == {"data", "models"}
    assert all(len(r["dvault:tree"]) == 64 for r in roots)
    run = doc["activity"][f"dvault:run-{head}"]
    assert run["prov:type"] == "dvault:Run" and "train.py" in run["dvault:command"]
    made = {g["prov:entity"] for g in doc["wasGeneratedBy"].values()}
    # the run made its commit and the models root; v1 was made with a --source script
    assert made == {f"dvault:commit-{head}", f"dvault:root-{head}-1", f"dvault:commit-{v1}"}
    used = {u["prov:entity"] for u in doc["used"].values()}
    assert f"dvault:root-{v1}-0" in used  # the input root data@v1
    assert any(k.startswith("dvault:source-") for k in doc["entity"])
    (env,) = [e for e in doc["entity"].values() if e["prov:type"] == "dvault:Environment"]
    assert env["dvault:status"] == "captured" and "packages" in env["dvault:summary"]
    assert any(u["prov:entity"].startswith("dvault:env-") for u in doc["used"].values())
    signer = [a for a in doc["agent"].values() if a["prov:type"] == "dvault:SigningKey"]
    assert signer and signer[0]["dvault:trusted"] is True
    roles = {r["prov:role"] for r in doc["wasAttributedTo"].values()}
    assert roles == {"dvault:author", "dvault:signer"}
    kinds = {d.get("prov:type") for d in doc["wasDerivedFrom"].values()}
    assert kinds == {"prov:Revision", None}  # a parent, and the input


def test_openlineage_events_validate_and_are_stable(tmp_path: Path, env: dict[str, str]) -> None:
    """lineage --format openlineage: one COMPLETE RunEvent per recorded run, one per line,
    valid against the OpenLineage spec and each facet's schema; the run id comes from the
    commit (the same on a second export), datasets in dvault://NAME with their content
    ids as versions."""
    proj = _audited(tmp_path, env)
    result = proj.ok("lineage", "--format", "openlineage", "--namespace", "vision")
    events = _events(result.out)
    assert len(events) == 1 and len(result.out.splitlines()) == 1
    event = events[0]
    validate_openlineage(event)
    assert event["eventType"] == "COMPLETE"
    assert event["job"] == {**event["job"], "namespace": "dvault://vision"}
    assert "train.py" in event["job"]["name"]
    assert [(d["namespace"], d["name"]) for d in event["inputs"]] == [("dvault://vision", "data")]
    assert [d["name"] for d in event["outputs"]] == ["models"]
    tree = proj.ok("show", "--json", "HEAD:").json()
    models = next(e["id"] for e in tree if e["name"] == "models")
    assert event["outputs"][0]["facets"]["version"]["datasetVersion"] == models
    assert event["run"]["facets"]["dvault"]["commit"] == proj.head()
    again = _events(proj.ok("lineage", "--format", "openlineage", "--namespace", "vision").out)
    assert again[0]["run"]["runId"] == event["run"]["runId"]
    default = _events(proj.ok("lineage", "--format", "openlineage").out)[0]
    assert default["job"]["namespace"] == "dvault://proj"


def test_a_lineage_without_runs_has_no_events(tracked: Project) -> None:
    """No recorded run: no line on stdout, one note on stderr, exit 0."""
    result = tracked.ok("lineage", "--format", "openlineage")
    assert result.out == "" and "no recorded dvault run" in result.err


def test_bad_export_options_are_one_line(tracked: Project) -> None:
    """--namespace belongs to openlineage; a namespace with a space is refused; --json
    contradicts prov-json."""
    assert "--namespace is for" in one_error_line(tracked.fails(2, "lineage", "--namespace", "x"))
    assert "without spaces" in one_error_line(
        tracked.fails(2, "lineage", "--format", "openlineage", "--namespace", "a b")
    )
    both = tracked.fails(2, "lineage", "--format", "prov-json", "--json")
    assert "--json contradicts --format prov-json" in both.err


def test_a_hostile_commit_still_exports_valid_documents(tmp_path: Path) -> None:
    """A crafted commit (escapes in message and author, meta of every wrong shape, ids
    that are not hex) exports valid PROV-JSON and OpenLineage, with the recorded values
    carried as strings and nothing raw on the terminal."""
    proj = _hostile_pin(tmp_path)
    prov = proj.run("lineage", "evil", "--format", "prov-json")
    assert prov.code == 0, prov.describe()
    assert_clean(prov)
    doc = json.loads(prov.out)
    validate_prov(doc)
    evil = proj.ok("log", "-n", "1", "--json", "evil").json()[0]["id"]
    assert doc["entity"][f"dvault:commit-{evil}"]["dvault:message"].startswith("<script>\x1b")
    run = doc["activity"][f"dvault:run-{evil}"]
    assert run["dvault:command"] == '{"not": "a list"}' and run["dvault:cwd"] == "[1]"
    assert not any(k.startswith("dvault:git-") for k in doc["entity"])  # not a hex sha
    ol = proj.run("lineage", "evil", "--format", "openlineage")
    assert ol.code == 0, ol.describe()
    assert_clean(ol)
    (event,) = _events(ol.out)
    validate_openlineage(event)
    assert [d["name"] for d in event["outputs"]] == ["data", "7", "null"]
    assert event["inputs"][0]["name"] == f"data{HOSTILE}"


def test_a_broken_export_fails_validation(tmp_path: Path, env: dict[str, str]) -> None:
    """The schema check bites: an event without a run id, with an unknown event type or a
    facet without its producer, and a PROV document with an attribute that is an object
    or an unknown top-level key, are each refused."""
    proj = _audited(tmp_path, env)
    (event,) = _events(proj.ok("lineage", "--format", "openlineage").out)
    doc = proj.ok("lineage", "--format", "prov-json").json()
    broken_events = [copy.deepcopy(event) for _ in range(4)]
    del broken_events[0]["run"]["runId"]
    broken_events[1]["eventType"] = "DONE"
    del broken_events[2]["run"]["facets"]["processing_engine"]["_producer"]
    broken_events[3]["run"]["runId"] = "not-a-uuid"
    for broken in broken_events:
        with pytest.raises(jsonschema.ValidationError):
            validate_openlineage(broken)
    broken_docs = [copy.deepcopy(doc) for _ in range(2)]
    next(iter(broken_docs[0]["entity"].values()))["dvault:id"] = {"an": "object"}
    broken_docs[1]["wasEndedBy"] = {}  # the schema spells it wasEndedby
    for broken_doc in broken_docs:
        with pytest.raises(jsonschema.ValidationError):
            validate_prov(broken_doc)


def test_repo_manifest_lists_any_revision(tmp_path: Path, env: dict[str, str]) -> None:
    """Repo.manifest writes the manifest of a dvault revision without a review: the same
    rows as review --manifest for the pinned commit; a destination in a root is refused."""
    from dvault.errors import UsageError

    proj = _audited(tmp_path, env)
    proj.run("review", "--manifest", str(tmp_path / "review.csv"))
    with Repo.open(proj.root) as repo:
        assert repo.manifest(tmp_path / "api.csv") == 3
        assert repo.manifest(tmp_path / "v1.json", "v1") == 2
        with pytest.raises(UsageError, match="inside data"):
            repo.manifest(proj.root / "data" / "m.csv")
    assert (tmp_path / "api.csv").read_text() == (tmp_path / "review.csv").read_text().replace(
        _git_head(proj), ""
    )
    assert not (proj.root / "data" / "m.csv").exists()


def test_manifest_of_a_pin_not_in_the_store_is_one_line(tmp_path: Path) -> None:
    """A pinned commit the local store lacks cannot be listed: exit 2, one line, no
    file, no report."""
    proj = victim(tmp_path, git=True)
    (proj.root / "dvault.lock").write_text(
        f'version = 1\ncommit = "{"cd" * 32}"\n\n[roots."data"]\n'
        f'kind = "dataset"\ntree = "{"ab" * 32}"\nsize = 1\nfiles = 1\n'
    )
    git(proj, "add", "dvault.lock")
    git(proj, "commit", "-qm", "pin")
    result = proj.fails(2, "review", "--manifest", str(tmp_path / "m.csv"))
    assert "not in the local store" in one_error_line(result) and result.out == ""
    assert not list(tmp_path.glob("*m.csv*"))


def test_prov_json_outside_git_and_a_folder_name_with_a_space(
    tmp_path: Path, env: dict[str, str]
) -> None:
    """Outside git (no trusted signers from git, no git commit recorded) prov-json is
    still valid; a default namespace from a folder name with a space asks for one."""
    root = tmp_path / "my proj"
    root.mkdir()
    proj = Project(root, env)
    proj.ok("init")
    proj.write("data/a.txt", "a\n")
    proj.ok("add", "data")
    proj.ok("commit", "-m", "v1")
    proj.ok("run", "--input", "data@HEAD", "-o", "out", "--", "sh", "-c", "mkdir out; date > out/x")
    validate_prov(proj.ok("lineage", "--format", "prov-json").json())
    refused = proj.fails(2, "lineage", "--format", "openlineage")
    assert "give --namespace NAME" in one_error_line(refused)
    (event,) = _events(proj.ok("lineage", "--format", "openlineage", "--namespace", "p").out)
    validate_openlineage(event)
