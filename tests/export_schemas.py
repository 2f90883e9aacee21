"""Validate dvault's lineage exports against the published schemas vendored in
tests/schemas/ (see its README), offline: every ``$ref`` is answered from a local
``referencing`` registry, and one the registry does not hold fails instead of being
fetched over the network."""

from __future__ import annotations

import functools
import json
import re
from pathlib import Path
from typing import Any

from jsonschema import Draft4Validator, Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT4, DRAFT202012

SCHEMAS = Path(__file__).parent / "schemas"
OPENLINEAGE = "https://openlineage.io/spec/2-0-2/OpenLineage.json"
PROV_ID = "http://provenance.ecs.soton.ac.uk/prov-json/schema#"

QNAME = re.compile(r"^(dvault:[a-z]+(-[0-9a-f]+)+|dvault:export|_:[A-Za-z]+[0-9]+)$")
"""Every identifier dvault writes into PROV-JSON (the schema's ``format: uri`` is not
checked by jsonschema without an extra package, so this is checked instead)."""


_NOT_IDS = ("prov:type", "prov:label", "prov:time", "prov:endTime", "prov:role")


def _load(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


@functools.cache
def _openlineage() -> Registry:
    resources = []
    for path in sorted((SCHEMAS / "openlineage").glob("*.json")):
        schema = _load(path)
        resources.append((schema["$id"], Resource.from_contents(schema, DRAFT202012)))
    return Registry().with_resources(resources)  # no retrieve: nothing is fetched


def validate_openlineage(event: dict[str, Any]) -> None:
    """Raise ``jsonschema.ValidationError`` unless ``event`` is a valid OpenLineage event
    whose every facet is valid against the schema its ``_schemaURL`` names (dvault's own
    facet, ``urn:dvault:...``, against the spec's RunFacet)."""
    registry = _openlineage()
    checker = Draft202012Validator.FORMAT_CHECKER

    def check(schema: dict[str, Any], value: object) -> None:
        Draft202012Validator(schema, registry=registry, format_checker=checker).validate(value)

    check({"$ref": OPENLINEAGE}, event)
    facets: list[dict[str, Any]] = []
    for holder in [event["run"], event["job"], *event.get("inputs", []), *event["outputs"]]:
        facets += holder.get("facets", {}).values()
    for facet in facets:
        url = facet["_schemaURL"]
        own = url.startswith("urn:dvault:")
        check({"$ref": OPENLINEAGE + "#/$defs/RunFacet" if own else url}, facet)


@functools.cache
def _prov() -> tuple[dict[str, Any], Registry]:
    schema = _load(SCHEMAS / "prov-json" / "prov-json.schema.json")
    return schema, Registry().with_resource(PROV_ID, Resource.from_contents(schema, DRAFT4))


def validate_prov(document: dict[str, Any]) -> None:
    """Raise ``jsonschema.ValidationError`` unless ``document`` is valid PROV-JSON, or
    ``AssertionError`` when an identifier is not one dvault writes."""
    schema, registry = _prov()
    Draft4Validator(
        schema, registry=registry, format_checker=Draft4Validator.FORMAT_CHECKER
    ).validate(document)
    for section, records in document.items():
        if section == "prefix":
            continue
        for key, record in records.items():
            assert QNAME.match(key), (section, key)
            for attr, value in record.items():
                if attr.startswith("prov:") and attr not in _NOT_IDS:
                    assert isinstance(value, str) and QNAME.match(value), (key, attr)
