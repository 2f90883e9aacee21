"""The lineage as OpenLineage run events (https://openlineage.io/spec, 2-0-2), the format
Marquez, Airflow, Spark and dbt integrations speak: ``dvault lineage REV --format
openlineage``.

One COMPLETE ``RunEvent`` per recorded ``dvault run`` in the lineage of REV, oldest
first. ``run.runId`` is a UUID derived from the commit id (:func:`run_id`, version 5), so
exporting the same history twice, or from two clones, names the same runs and a
lineage server merges them instead of counting them twice. The job is the recorded
command; the inputs are the recorded ``--input`` data (``PATH@REV``: dataset PATH;
``REV``: dataset ``/``, the whole version), the outputs the ``--output`` paths, each in
namespace ``dvault://<project>`` with its content id as the ``version`` facet.
``eventTime`` is the time of the commit the run made (the run's end: ``dvault run``
records how long it took, not when it started).

Emitted as JSON Lines, one event per line: a lineage server takes one event per POST
(``/api/v1/lineage``), so a line is what ``curl -d @-`` sends, no ``jq`` needed, and it is
what OpenLineage's own file transport writes.

Hostile by default: every recorded value (command words, paths, revisions) is carried
as a JSON string; a value of the wrong shape is left out, never a crash.
"""

from __future__ import annotations

import datetime
import json
import os
import uuid
from typing import Any

from dvault.errors import DvaultError, UsageError
from dvault.lineage import Graph, Node
from dvault.repository import Repository
from dvault.trees.nodes import lookup

SPEC = "https://openlineage.io/spec/2-0-2/OpenLineage.json"
SCHEMA_URL = SPEC + "#/$defs/RunEvent"
FACETS = {
    "processing_engine": "https://openlineage.io/spec/facets/1-1-1/ProcessingEngineRunFacet.json"
    "#/$defs/ProcessingEngineRunFacet",
    "jobType": "https://openlineage.io/spec/facets/2-0-4/JobTypeJobFacet.json"
    "#/$defs/JobTypeJobFacet",
    "version": "https://openlineage.io/spec/facets/1-0-1/DatasetVersionDatasetFacet.json"
    "#/$defs/DatasetVersionDatasetFacet",
    "dvault": "urn:dvault:facet:DvaultRunFacet:1",
}
"""Each facet dvault writes and the schema it follows (``dvault``: our own run facet,
documented in docs/lineage.md)."""

RUN_NAMESPACE = uuid.UUID("6f1f8f0e-3c0b-5e5b-9d7a-64766175c74a")
"""The UUID namespace of run ids (fixed for ever: changing it renames every run)."""

MAX_NAME = 256
"""Longest job name (the command line, cut)."""


def dvault_version() -> str:
    from importlib.metadata import PackageNotFoundError, version  # deferred: metadata scan

    try:
        return version("dvault")
    except PackageNotFoundError:
        return "unknown"


def producer() -> str:
    """The URI naming dvault as the producer of an event or facet."""
    return f"urn:dvault:{dvault_version()}"


def run_id(commit_hex: str) -> str:
    """The run id of the ``dvault run`` that made commit ``commit_hex``: deterministic."""
    return str(uuid.uuid5(RUN_NAMESPACE, commit_hex))


def namespace(repo: Repository, name: str | None = None) -> str:
    """``dvault://NAME``: ``name`` if given, else the project folder's name."""
    given = repo.root.name if name is None else name
    if not given or not given.isprintable() or any(c.isspace() for c in given):
        if name is None:
            raise UsageError(
                f"the project folder's name {given!r} is no namespace: give --namespace NAME"
            )
        raise UsageError(f"--namespace {given!r}: give a name without spaces or controls")
    return "dvault://" + given


def iso_time(time_ns: int) -> str | None:
    """An RFC 3339 UTC time, or None for a forged time no calendar holds."""
    try:
        stamp = datetime.datetime.fromtimestamp(time_ns / 1e9, datetime.UTC)
    except (OverflowError, OSError, ValueError):
        return None
    return stamp.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def text(value: object) -> str:
    """A recorded value as a string (hostile meta: whatever shape it has): text as it
    is, a list (a command line) as its words joined by spaces, anything else as JSON."""
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return " ".join(text(v) for v in value)
    return json.dumps(value, sort_keys=True, ensure_ascii=False, default=str)


def _facet(facet: str, /, **fields: object) -> dict[str, object]:
    return {"_producer": producer(), "_schemaURL": FACETS[facet], **fields}


def _dataset(ns: str, name: str, version: str | None) -> dict[str, Any]:
    out: dict[str, Any] = {"namespace": ns, "name": name}
    if version:
        out["facets"] = {"version": _facet("version", datasetVersion=version)}
    return out


def _output_version(repo: Repository, node: Node, path: str) -> str | None:
    """The content id of ``path`` in the commit (tree or file), None if absent."""
    try:
        tree = repo.read_commit(bytes.fromhex(node.id)).tree
        entry = lookup(repo.store, tree, os.fsencode(path))
    except (DvaultError, UnicodeError, ValueError):  # damaged tree, odd path: no version
        return None
    return entry.id.hex() if entry is not None else None


def event(repo: Repository, node: Node, ns: str) -> dict[str, Any] | None:
    """The COMPLETE run event of a commit made by ``dvault run``; None for any other."""
    run = node.meta.get("run")
    if not isinstance(run, dict):
        return None
    command = run.get("command")
    name = text(command)[:MAX_NAME] if command else "dvault run"
    inputs = []
    items = node.meta.get("inputs")
    for item in items if isinstance(items, list) else []:
        if not isinstance(item, dict):
            continue
        path, version = item.get("path"), item.get("id") or item.get("commit")
        inputs.append(_dataset(ns, text(path) if path else "/", text(version) if version else None))
    outputs_made = run.get("outputs")
    outputs = [
        _dataset(ns, text(p), _output_version(repo, node, text(p)))
        for p in (outputs_made if isinstance(outputs_made, list) else [])
    ]
    git = node.meta.get("git")
    facts: dict[str, object] = {"commit": node.id, "message": node.message}
    if isinstance(git, dict):
        for key, fact in (("commit", "gitCommit"), ("dirty", "gitDirty")):
            if git.get(key) is not None:
                facts[fact] = text(git[key])
    for key in ("cwd", "seconds", "exit"):
        if run.get(key) is not None:
            facts[key] = text(run[key])
    return {
        "eventType": "COMPLETE",
        "eventTime": iso_time(node.time_ns) or "1970-01-01T00:00:00.000000Z",
        "producer": producer(),
        "schemaURL": SCHEMA_URL,
        "run": {
            "runId": run_id(node.id),
            "facets": {
                "processing_engine": _facet(
                    "processing_engine", name="dvault", version=dvault_version()
                ),
                "dvault": _facet("dvault", **facts),
            },
        },
        "job": {
            "namespace": ns,
            "name": name,
            "facets": {
                "jobType": _facet(
                    "jobType", processingType="BATCH", integration="DVAULT", jobType="COMMAND"
                )
            },
        },
        "inputs": inputs,
        "outputs": outputs,
    }


def events(repo: Repository, graph: Graph, ns: str) -> list[dict[str, Any]]:
    """Every recorded run of the graph, oldest first (a lineage server wants them so)."""
    found = []
    for node in sorted(graph.nodes.values(), key=lambda n: (n.time_ns, n.id)):
        made = event(repo, node, ns) if node.available else None
        if made is not None:
            found.append(made)
    return found
