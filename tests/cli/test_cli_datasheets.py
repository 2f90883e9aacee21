"""``dvault datasheet show|check|init`` and ``dvault stats`` through the real command line:
datasheets read as hostile input, statistics from the trees, label histograms."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from dvault.datasheet import FIELDS, REQUIRED

from .helpers import Project, git, git_project, one_error_line, snapshot

COMPLETE = """
title = "Pets"
origin = "Photos taken by the team, 2024"
collection = "Phone cameras, one session per pet"
licence = "CC-BY-4.0"
personal_data = "none"
consent = "not applicable"
annotators = ["Ada", "Grace"]
annotation_guideline = "pets-guideline v3"
intended_use = "Cat/dog classification demos"
known_limitations = "Two breeds only"
[splits]
train = "data/train/"
test = "data/test/"
"""


@pytest.fixture
def pets(project: Project) -> Project:
    """``data`` tracked with two class folders and a CSV of labels, committed once."""
    project.write("data/cat/1.jpg", "a")
    project.write("data/cat/2.jpg", "bb")
    project.write("data/dog/3.jpg", "ccc")
    project.write("data/labels.csv", "file,label,notes\n1.jpg,c01,x\n2.jpg,c01,\n3.jpg,dog,\n")
    project.ok("add", "data")
    project.commit("v1")
    return project


def test_init_writes_a_template_with_every_field_commented(pets: Project) -> None:
    out = pets.ok("datasheet", "init", "data").out
    assert "data/datasheet.toml" in out
    text = (pets.root / "data/datasheet.toml").read_text()
    for spec in FIELDS:
        assert f"# {spec.key} = " in text or f"# [{spec.key}]" in text, spec.key
    assert not any(line and not line.startswith("#") for line in text.splitlines())
    check = pets.fails(1, "datasheet", "check", "--json").json()
    assert check[0]["found"] is True and check[0]["missing"] == list(REQUIRED)


def test_init_never_replaces_and_wants_a_tracked_root(pets: Project) -> None:
    pets.write("data/datasheet.toml", "title = 'mine'\n")
    before = snapshot(pets.root / "data")
    assert "already exists" in one_error_line(pets.fails(2, "datasheet", "init", "data"))
    assert "not a tracked root" in one_error_line(pets.fails(2, "datasheet", "init", "data/cat"))
    assert snapshot(pets.root / "data") == before


def test_check_lists_missing_fields_and_passes_when_complete(pets: Project) -> None:
    no_sheet = pets.fails(1, "datasheet", "check")
    assert "data: no datasheet" in no_sheet.out
    pets.write("data/datasheet.toml", 'title = "Pets"\nlicence = "MIT"\n')
    partial = pets.fails(1, "datasheet", "check").out
    assert "data: missing origin, collection, personal_data" in partial
    assert "licence" not in partial.split("missing", 1)[1]
    pets.write("data/datasheet.toml", COMPLETE)
    assert pets.ok("datasheet", "check").out.strip() == "data: complete"
    shown = pets.ok("datasheet", "show", "data").out
    assert "licence: CC-BY-4.0" in shown and "train: data/train/" in shown
    assert "- Grace" in shown


def test_unknown_keys_are_kept_and_flagged(pets: Project) -> None:
    pets.write("data/datasheet.toml", COMPLETE.replace("licence =", "license ="))
    result = pets.fails(1, "datasheet", "check", "--json").json()[0]
    assert result["unknown"] == ["license"] and result["missing"] == ["licence"]
    text = pets.fails(1, "datasheet", "check").out
    assert "data: unknown keys license" in text


def test_datasheet_is_versioned_with_the_data(pets: Project) -> None:
    pets.write("data/datasheet.toml", 'title = "Pets"\n')
    pets.commit("partial datasheet")
    pets.write("data/datasheet.toml", COMPLETE)
    pets.commit("complete datasheet")
    assert pets.ok("datasheet", "check", "--rev", "HEAD").out.strip() == "data: complete"
    old = pets.fails(1, "datasheet", "check", "data", "--rev", "HEAD~1", "--json").json()
    assert old[0]["file"] == "HEAD~1:data/datasheet.toml" and old[0]["fields"] == {"title": "Pets"}
    assert "no datasheet" in pets.fails(1, "datasheet", "check", "--rev", "HEAD~2").out


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"title = [1, 2]\n", "title must be text"),
        (b"splits = 'train'\n", "splits must be a table"),
        (b"title = \n", "not valid TOML"),
        (b"\xff\xfe", "not UTF-8"),
        (b"title = '" + b"x" * 70000 + b"'\n", "at most 65536 bytes"),
        (b"x = " + b"[" * 5000 + b"]" * 5000 + b"\n", "nested too deeply"),
    ],
)
def test_a_hostile_datasheet_is_one_error_line(pets: Project, content: bytes, reason: str) -> None:
    pets.write("data/datasheet.toml", content)
    for command in ("check", "show"):
        line = one_error_line(pets.fails(2, "datasheet", command))
        assert "data/datasheet.toml" in line and reason in line, line
    pets.commit("hostile datasheet")
    line = one_error_line(pets.fails(2, "datasheet", "show", "--rev", "HEAD"))
    assert "HEAD:data/datasheet.toml" in line and reason in line, line


def test_a_datasheet_symlink_or_fifo_is_not_followed(pets: Project, tmp_path: object) -> None:
    secret = pets.root.parent / "secret.toml"
    secret.write_text('title = "outside"\n')
    os.symlink(secret, pets.root / "data/datasheet.toml")
    line = one_error_line(pets.fails(2, "datasheet", "show"))
    assert "cannot read it" in line and "outside" not in line
    os.unlink(pets.root / "data/datasheet.toml")
    os.mkfifo(pets.root / "data/datasheet.toml")
    assert "not a regular file" in one_error_line(pets.fails(2, "datasheet", "show"))


def test_escapes_what_a_datasheet_says(pets: Project) -> None:
    pets.write("data/datasheet.toml", 'title = "Pets\\u001b[31m red"\n')
    out = pets.ok("datasheet", "show").out
    assert "\x1b" not in out and "Pets" in out


def test_stats_counts_files_and_bytes_per_class_folder(pets: Project) -> None:
    doc = pets.ok("stats", "--json").json()
    (root,) = doc["roots"]
    assert root["root"] == "data" and root["files"] == 4 and root["changes"] is None
    assert root["folders"]["cat"] == {"files": 2, "bytes": 3}
    assert root["folders"]["dog"] == {"files": 1, "bytes": 3}
    assert root["folders"]["."]["files"] == 1
    (labels,) = root["labels"]
    assert labels["path"] == "data/labels.csv" and labels["histogram"] == {"c01": 2, "dog": 1}
    text = pets.ok("stats").out
    assert "cat/  2 files, 3 B" in text and "labels data/labels.csv: c01 2, dog 1" in text


def test_stats_since_counts_changes_and_relabels(pets: Project) -> None:
    pets.write("data/labels.csv", "file,label,notes\n1.jpg,c01b,\n2.jpg,c01b,\n3.jpg,dog,\n")
    pets.write("data/cat/4.jpg", "dddd")
    (pets.root / "data/dog/3.jpg").unlink()
    pets.commit("relabel")
    doc = pets.ok("stats", "HEAD", "--since", "HEAD~1", "--json").json()
    root = doc["roots"][0]
    assert root["changes"] == {
        "added": 1,
        "deleted": 1,
        "modified": 1,
        "bytes_added": 4 + len("file,label,notes\n1.jpg,c01b,\n2.jpg,c01b,\n3.jpg,dog,\n"),
        "bytes_deleted": 3 + len("file,label,notes\n1.jpg,c01,x\n2.jpg,c01,\n3.jpg,dog,\n"),
    }
    labels = root["labels"][0]
    assert labels["changed"] == 2
    assert labels["transitions"] == [{"from": "c01", "to": "c01b", "count": 2}]
    assert "2 labels changed: 2 c01\u2192c01b" in pets.ok("stats", "--since", "HEAD~1").out


def test_stats_reads_json_labels_and_skips_what_it_cannot(pets: Project) -> None:
    pets.write("data/a.json", json.dumps({"1.jpg": "cat", "2.jpg": "cat", "3.jpg": "dog"}))
    pets.write("data/b.json", json.dumps([{"id": 1, "label": "x"}, {"id": 2, "label": "y"}]))
    pets.write("data/c.json", "{not json")
    pets.write("data/d.csv", "only one column\n")
    pets.write("data/big.csv", "file,label\n" + "f,x\n" * 300_000)
    pets.ok("add", "data")
    pets.commit("more labels")
    labels = {lab["path"]: lab for lab in pets.ok("stats", "--json").json()["roots"][0]["labels"]}
    assert labels["data/a.json"]["histogram"] == {"cat": 2, "dog": 1}
    assert labels["data/b.json"]["histogram"] == {"x": 1, "y": 1}
    assert labels["data/c.json"]["skipped"] == "not JSON"
    assert "header and two columns" in labels["data/d.csv"]["skipped"]
    assert "larger than" in labels["data/big.csv"]["skipped"]


def test_stats_bad_revisions_are_one_error_line(pets: Project) -> None:
    one_error_line(pets.fails(2, "stats", "nope"))
    one_error_line(pets.fails(2, "stats", "--since", "nope"))


def _reviewed(tmp_path: Path, env: dict[str, str], sheet: str | None) -> Project:
    """A git project whose pin holds ``data`` (v1, then a relabel with ``sheet`` as its
    datasheet when given), committed to git."""
    proj = git_project(tmp_path / "gitproj", env)
    proj.write("data/cat/1.jpg", "a")
    proj.write("data/labels.csv", "file,label\n1.jpg,c01\n2.jpg,c01\n")
    proj.ok("add", "data")
    proj.ok("commit", "-m", "v1")
    proj.write("data/labels.csv", "file,label\n1.jpg,c01b\n2.jpg,c01\n")
    if sheet is not None:
        proj.write("data/datasheet.toml", sheet)
        proj.ok("add", "data")
    proj.ok("commit", "-a", "-m", "relabel")
    git(proj, "add", "-A")
    git(proj, "commit", "-qm", "code+pin")
    return proj


def test_review_shows_datasheets_and_statistics(tmp_path: Path, env: dict[str, str]) -> None:
    proj = _reviewed(tmp_path, env, COMPLETE.replace('licence = "CC-BY-4.0"\n', ""))
    doc = proj.run("review", "--json").json()
    (sheet,) = doc["datasheets"]
    assert sheet["missing"] == ["licence"] and doc["datasheets_complete"] is False
    (root,) = doc["stats"]["roots"]
    assert root["folders"]["cat"] == {"files": 1, "bytes": 1}
    assert root["changes"]["modified"] == 1 and root["changes"]["added"] == 1
    assert root["labels"][0]["transitions"] == [{"from": "c01", "to": "c01b", "count": 1}]
    md = proj.run("review").out
    assert "## Datasheets" in md and "| data | incomplete | licence |" in md
    assert "dvault datasheet init ROOT" in md
    assert "## Statistics" in md and "| data | cat | 1 | 1 |" in md
    assert "1 c01 → c01b" in md


def test_review_reports_a_hostile_datasheet_and_goes_on(
    tmp_path: Path, env: dict[str, str]
) -> None:
    proj = _reviewed(tmp_path, env, "title = [1]\n| x | <b>\n")
    result = proj.run("review", "--json")
    assert result.code == 1 and "Traceback" not in result.err
    (sheet,) = result.json()["datasheets"]
    assert "not valid TOML" in sheet["error"] and sheet["complete"] is False
    assert "| data | NOT VALID:" in proj.run("review").out
    complete = _reviewed(tmp_path / "2", env, COMPLETE).run("review", "--json").json()
    assert complete["datasheets_complete"] is True


def test_a_tree_that_lies_about_sizes_reads_nothing_past_its_claim(pets: Project) -> None:
    """A forged commit whose tree says its label file and datasheet are 10 bytes, while
    their content is a chunk list of 4 MiB: both are refused before a byte is read."""
    from dvault.repo import Repo
    from dvault.treeobjects import MODE_DIR, MODE_FILE
    from tests.security._checkout_helpers import Forger

    with Repo.open(pets.root) as repo, Forger(repo) as forger:
        big = forger.chunk_list(forger.blob(b"f,x\n" * 16384), 65536, 64)
        inner, _ = forger.tree(
            [(b"labels.csv", MODE_FILE, 10, big), (b"datasheet.toml", MODE_FILE, 10, big)]
        )
        top, _ = forger.tree([(b"data", MODE_DIR, 20, inner)])
        evil = forger.commit(top, [], {"data": "dataset"})
    pets.ok("branch", "evil", evil.hex())
    (labels,) = pets.ok("stats", "evil", "--json").json()["roots"][0]["labels"]
    assert "its tree says 10" in labels["skipped"]
    line = one_error_line(pets.fails(2, "datasheet", "show", "--rev", "evil"))
    assert "evil:data/datasheet.toml" in line and "its tree says 10" in line


def test_stats_groups_one_label_file_per_image_by_folder(pets: Project) -> None:
    """The demo's layout: labels/0001.json = {"image": ..., "class": 3} per image; one
    histogram for labels/*.json, and a relabel counted per file."""
    for i in range(6):
        pets.write(f"data/labels/{i:04}.json", json.dumps({"image": f"{i}.jpg", "class": i % 2}))
    pets.write("data/labels/config.json", json.dumps({"nested": {"not": "labels"}}))
    pets.ok("add", "data")
    pets.commit("labels")
    pets.write("data/labels/0000.json", json.dumps({"image": "0.jpg", "class": 1}))
    pets.write("data/labels/0002.json", json.dumps({"image": "2.jpg", "class": 1}))
    pets.commit("relabel two")
    labels = pets.ok("stats", "--since", "HEAD~1", "--json").json()["roots"][0]["labels"]
    grouped = {lab["path"]: lab for lab in labels}["data/labels/*.json"]
    assert grouped["histogram"] == {"1": 5, "0": 1}
    assert grouped["changed"] == 2
    assert grouped["transitions"] == [{"from": "0", "to": "1", "count": 2}]
    assert not any("config.json" in lab["path"] for lab in labels)


def test_stats_depth_counts_nested_class_folders(pets: Project) -> None:
    pets.write("data/images/cat/1.jpg", "abc")
    pets.write("data/images/dog/2.jpg", "de")
    pets.write("data/images/readme.txt", "r")
    pets.ok("add", "data")
    pets.commit("nested")
    folders = pets.ok("stats", "--depth", "2", "--json").json()["roots"][0]["folders"]
    assert folders["images/cat"] == {"files": 1, "bytes": 3}
    assert folders["images/dog"] == {"files": 1, "bytes": 2}
    assert folders["images"] == {"files": 1, "bytes": 1}
    assert folders["cat"] == {"files": 2, "bytes": 3}
    one = pets.ok("stats", "--json").json()["roots"][0]["folders"]
    assert one["images"] == {"files": 3, "bytes": 6}
    assert "--depth" in one_error_line(pets.fails(2, "stats", "--depth", "0"))
