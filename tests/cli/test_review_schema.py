"""`dvault review --json` and the JSON the HTML review embeds follow the documented schema
(docs/review.schema.json), for a review where every check passes, one without a remote, and
one whose pinned commit is not in the local store; a document that breaks the contract
fails validation (the check bites)."""

from __future__ import annotations

import copy
import html.parser
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from .helpers import Project, git
from .reviewed import reviewed_project
from .test_cli_exports import victim
from .test_cli_verdict import _build

SCHEMA = json.loads((Path(__file__).parents[2] / "docs" / "review.schema.json").read_text())


def _validate(doc: dict[str, Any]) -> None:
    jsonschema.Draft202012Validator.check_schema(SCHEMA)
    errors = [
        f"{e.json_path}: {e.message}"
        for e in jsonschema.Draft202012Validator(SCHEMA).iter_errors(doc)
    ]
    assert not errors, errors[:5]


class _Embedded(html.parser.HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.inside, self.text = False, ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.inside = tag == "script" and ("id", "review-data") in attrs

    def handle_data(self, data: str) -> None:
        if self.inside:
            self.text += data

    def handle_endtag(self, tag: str) -> None:
        self.inside = False


def _both(proj: Project, *args: str) -> dict[str, Any]:
    """The --json document, checked against the one the HTML page embeds."""
    doc = proj.run("review", "--json", *args).json()
    page = _Embedded()
    page.feed(proj.run("review", "--format", "html", *args).out)
    embedded = json.loads(page.text)
    for moving in ("generated",):  # the two runs are seconds apart
        doc.pop(moving), embedded.pop(moving)
    assert embedded == doc
    doc["generated"] = "2026-01-01T00:00:00Z"
    return doc


def test_a_review_where_every_check_passes_follows_the_schema(
    tmp_path: Path, env: dict[str, str]
) -> None:
    doc = _both(_build(tmp_path, env))
    assert doc["verdict"] == "reproducible" and doc["format"] == "dvault-review/1"
    _validate(doc)


def test_a_review_without_a_remote_follows_the_schema(tmp_path: Path, env: dict[str, str]) -> None:
    doc = _both(reviewed_project(tmp_path / "proj", env))
    assert doc["remotes"] == [] and doc["verdict"] == "not reproducible"
    _validate(doc)


def test_a_pin_not_in_the_local_store_follows_the_schema(tmp_path: Path) -> None:
    proj = victim(tmp_path, git=True)
    (proj.root / "dvault.lock").write_text(
        f'version = 1\ncommit = "{"cd" * 32}"\n\n[roots."data"]\n'
        f'kind = "dataset"\ntree = "{"ab" * 32}"\nsize = 1\nfiles = 1\n'
    )
    git(proj, "add", "dvault.lock")
    git(proj, "commit", "-qm", "pin")
    doc = _both(proj)
    assert doc["lineage"] is None and doc["signature"]["status"] == "not-local"
    _validate(doc)


BREAKAGES: list[Callable[[dict[str, Any]], object]] = [
    lambda d: d["checks"].pop(),  # a check missing
    lambda d: d["checks"].reverse(),  # out of order
    lambda d: d["checks"][0].update(status="ok"),  # not pass / fail / not recorded
    lambda d: d["checks"][1].update(status="fail", fix=None),  # a failure with no fix
    lambda d: d.update(verdict="mostly reproducible"),
    lambda d: d["data"].update(commit="HEAD"),  # not an id
    lambda d: d.pop("tool"),
]


def test_a_document_that_breaks_the_contract_fails(tmp_path: Path, env: dict[str, str]) -> None:
    doc = _both(reviewed_project(tmp_path / "proj", env))
    _validate(doc)
    for number, breakage in enumerate(BREAKAGES):
        broken = copy.deepcopy(doc)
        breakage(broken)
        with pytest.raises(AssertionError):
            _validate(broken)
            print(f"breakage {number} was not caught")
