"""The review as a document: sections of paragraphs, tables, bullet lists and the lineage
graph, built once from the model (dvault/review.py) and written out as Markdown or HTML by
dvault/reviewrender.py, so both formats say the same thing.

Text in the blocks is plain and unescaped, as the review holds it: every string quoted
from a commit, a lock file, a datasheet, a remote or a signer list is attacker input, and
the renderer escapes each span for the format it lands in (dvault/textsafe.py).
"""

from __future__ import annotations

import datetime
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from dvault import verdict
from dvault.review import Review
from dvault.textsafe import first_line

# --- the document model: spans inside blocks -------------------------------------------------


@dataclass(frozen=True)
class Span:
    text: str
    style: str = ""  # "" plain, "code", "strong", or "badge-<status>"


Inline = tuple[Span, ...]


def _t(text: str) -> Inline:
    return (Span(text),)


def _c(text: str) -> Inline:
    return (Span(text, "code"),)


@dataclass(frozen=True)
class Para:
    text: Inline


@dataclass(frozen=True)
class Table:
    header: tuple[str, ...]
    rows: Sequence[tuple[Inline, ...]]
    css: str = ""


@dataclass(frozen=True)
class Bullets:
    items: list[tuple[Inline, list[Inline]]]  # an item and its sub-items


@dataclass(frozen=True)
class Graph:
    lineage: dict[str, Any]


@dataclass
class Section:
    anchor: str
    title: str
    blocks: list[Para | Table | Bullets | Graph] = field(default_factory=list)
    verdict: str = ""
    """The summary's verdict as shown (``reproducible`` / ``NOT reproducible``)."""


Block = Para | Table | Bullets | Graph

BADGE = {verdict.PASS: "PASS", verdict.FAIL: "FAIL", verdict.NOT_RECORDED: "NOT RECORDED"}


def _badge(status: str) -> Span:
    return Span(BADGE.get(status, status.upper()), f"badge-{status.replace(' ', '-')}")


# --- the document ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Produced:
    """Who made the document and when (shown in its header)."""

    tool_version: str
    when: datetime.datetime

    @property
    def date(self) -> str:
        return self.when.astimezone(datetime.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")

    def to_json(self) -> dict[str, str]:
        return {
            "tool": f"dvault {self.tool_version}",
            "generated": self.when.astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        }


REVIEW_FORMAT = "dvault-review/1"
"""The JSON document's ``format`` (docs/review.schema.json describes it)."""


def json_document(r: Review, made: Produced) -> dict[str, object]:
    """The review as the JSON document ``--json`` prints and the HTML embeds: the format,
    who produced it and when, then ``Review.to_json``."""
    return {"format": REVIEW_FORMAT, **made.to_json(), **r.to_json()}


def produced_now(tool_version: str) -> Produced:
    return Produced(tool_version, datetime.datetime.now(datetime.UTC))


def word(checks: list[verdict.Check]) -> str:
    """The verdict as the page says it (verdict.verdict over the checks)."""
    return "reproducible" if verdict.verdict(checks) == "reproducible" else "NOT reproducible"


def title(r: Review) -> str:
    return f"Reproducibility review of git {r.git_rev} ({r.git_commit[:12]})"


def document(r: Review, made: Produced) -> list[Section]:
    """The review as sections of blocks, in report order. The checks are computed once
    here (part of them may ask git)."""
    checks = r.checks
    head = Section("summary", "Summary", verdict=word(checks))
    head.blocks += [
        Table(
            ("fact", "value"),
            [
                (_t("git revision"), _t(r.git_rev)),
                (_t("git commit"), _c(r.git_commit)),
                (_t("dvault commit"), _c(r.pin.commit)),
                (_t("produced by"), _t(f"dvault {made.tool_version}")),
                (_t("produced on"), _t(made.date)),
            ],
            "facts",
        ),
        _verdict_para(checks),
    ]
    if r.signature.get("status") == "bad":
        head.blocks.append(
            Para((Span("The pinned commit's signature is BAD: it does not verify.", "strong"),))
        )
    altered = [_altered(r)] if r.altered or r.released else []
    return [
        head,
        _checks(checks),
        _pinned(r),
        _lineage(r),
        *altered,
        _environment(r),
        _signatures(r, checks),
        _remotes(r, checks),
        _datasheets(r),
        _statistics(r),
    ]


def _verdict_para(checks: list[verdict.Check]) -> Para:
    said_word = word(checks)
    spans = [Span(f"Verdict: {said_word}", "strong")]
    if said_word == "reproducible":
        spans.append(Span(" — every check below passed."))
        return Para(tuple(spans))
    failed = [c.title for c in checks if c.status == verdict.FAIL]
    unknown = [c.title for c in checks if c.status == verdict.NOT_RECORDED]
    said = []
    if failed:
        said.append("failed: " + ", ".join(failed))
    if unknown:
        said.append("not recorded: " + ", ".join(unknown))
    fixes = "Each check below names the command that fixes it."
    spans.append(Span(" — " + "; ".join(said) + ". " + fixes))
    return Para(tuple(spans))


def _checks(checks: list[verdict.Check]) -> Section:
    section = Section("checks", "Checks")
    rows = [
        ((_badge(c.status),), _t(c.title), _t(c.reason), _c(c.fix) if c.fix else _t(""))
        for c in checks
    ]
    section.blocks.append(Table(("status", "check", "reason", "fix"), rows, "checks"))
    return section


def _pinned(r: Review) -> Section:
    section = Section("pinned", "Pinned data")
    section.blocks.append(Para((Span("dvault commit "), Span(r.pin.commit[:12], "code"))))
    rows = [
        (_t(path), _t(root.kind), _t(str(root.files)), _t(str(root.size)), _c(root.tree[:12]))
        for path, root in sorted(r.pin.roots.items())
    ]
    section.blocks.append(Table(("root", "kind", "files", "bytes", "tree"), rows))
    return section


def _node_items(node: dict[str, Any]) -> tuple[Inline, list[Inline]]:
    names = node.get("names") or []
    label: Inline = (Span(str(node["id"])[:12], "code"), Span(" "))
    if names:
        label += (Span("(" + ", ".join(map(str, names)) + ")", "strong"), Span(" "))
    label += (Span(first_line(str(node.get("message", "")))),)
    subs: list[Inline] = []
    git = node.get("git")
    if isinstance(git, dict) and git.get("commit"):
        state = "dirty" if git.get("dirty") else "clean"
        subs.append(_t(f"git {str(git['commit'])[:12]} ({state})"))
    for item in node.get("inputs", []):
        where = f"{item.get('path')}@" if item.get("path") else ""
        subs.append(_t("derived from " + where + str(item.get("rev"))))
    for item in node.get("sources", []):
        subs.append((Span(f"source {item.get('path')} "), Span(str(item.get("id"))[:12], "code")))
    run = node.get("run")
    if isinstance(run, dict) and isinstance(run.get("command"), list):
        subs.append((Span("ran "), Span(" ".join(map(str, run["command"])), "code")))
    for item in node.get("redactions", []):  # the id is unchanged, some contents are not
        subs.append(
            _t(
                f"altered by a redaction: {item.get('files')} file(s) erased on "
                f"{item.get('time')} by {item.get('user')}: {item.get('reason')}"
            )
        )
    return label, subs


def _lineage(r: Review) -> Section:
    section = Section("lineage", "Lineage")
    if r.lineage is None:
        section.blocks.append(
            Para(_t("The pinned commit is not in the local store (fetch it to see lineage)."))
        )
        return section
    section.blocks.append(Graph(r.lineage))
    section.blocks.append(Bullets([_node_items(n) for n in r.lineage["nodes"]]))
    return section


ROLE = {"pinned": "pinned commit", "input": "input"}


def _altered(r: Review) -> Section:
    """The reviewed revisions a redaction altered or a forget released: what, when, by
    whom, why, who signed the record; and that everything else still verifies."""
    section = Section("altered", "Redactions and releases")
    add = section.blocks.append
    if r.altered:
        add(
            Para(
                _t(
                    "A redaction erased contents of these reviewed revisions after they were "
                    "recorded. Their commit ids are unchanged (signatures and pins still "
                    "name them); the erased files no longer restore, everything else is "
                    "checked below."
                )
            )
        )
        rows: list[tuple[Inline, ...]] = [
            (
                _c(a.commit[:12]),
                _t(ROLE.get(a.role, a.role)),
                _t(e.what()),
                _t(e.when),
                _t(e.user),
                _t(e.reason),
                _t(e.record()),
            )
            for a in r.altered
            for e in a.erasures
        ]
        header = ("revision", "role", "erased", "when", "by", "reason", "record")
        add(Table(header, rows, "redactions"))
        add(Bullets([(_c(a.commit[:12]) + _t(": " + a.rest_text()), []) for a in r.altered]))
    if r.released:
        released: list[tuple[Inline, ...]] = [
            (_c(x.commit[:12]), _t(ROLE.get(x.role, x.role)), _t(x.remote), _t(x.describe()))
            for x in r.released
        ]
        add(Table(("revision", "role", "remote", "contents"), released, "releases"))
    return section


def _environment(r: Review) -> Section:
    section = Section("environment", "Environment")
    add = section.blocks.append
    rec = r.environment
    if rec is None:
        add(Para(_t("The pinned commit is not in the local store (fetch it to see it).")))
    elif rec.env is None and rec.problem:
        add(Para(_t(f"Refused: {rec.problem}.")))
    elif rec.env is None:
        add(
            Para(
                (
                    Span("Not recorded: the pinned commit was not made by "),
                    Span("dvault run", "code"),
                    Span(" or "),
                    Span("dvault commit --env", "code"),
                    Span("."),
                )
            )
        )
    else:
        add(Bullets([(_t(fact), []) for fact in rec.env.details()]))
        add(Para((Span("Environment object "), Span(rec.id[:12], "code"), Span("."))))
        if rec.env.distributions:
            rows = [(_t(n), _t(v)) for n, v in rec.env.distributions]
            add(Table(("package", "version"), rows))
    return section


def _fix_of(checks: list[verdict.Check], name: str) -> str | None:
    return next((c.fix for c in checks if c.name == name and c.status != verdict.PASS), None)


def _signatures(r: Review, checks: list[verdict.Check]) -> Section:
    section = Section("signatures", "Signatures")
    sig = r.signature
    status = str(sig.get("status"))
    said = f"dvault commit {r.pin.commit[:12]}: " if r.lineage is not None else ""
    section.blocks.append(Para(_t(said + r.signature_text)))
    row = (
        _c(r.pin.commit[:12]),
        _t(status),
        _t(str(sig.get("signer") or "")),
        _c(str(sig.get("fingerprint"))) if sig.get("fingerprint") else _t(""),
    )
    section.blocks.append(Table(("commit", "status", "signer", "key"), [row], "signatures"))
    if status == "good":
        return section
    steps = _how_to_sign(status, _fix_of(checks, "signed"))
    section.blocks += [Para(_t("How to sign:")), Bullets(steps)]
    return section


def _how_to_sign(status: str, fix: str | None) -> list[tuple[Inline, list[Inline]]]:
    """The steps that get a good signature from a trusted signer, for each status; ``fix``
    is the signed check's own command (a run is recorded again signed: signing a new
    commit afterwards would pin a commit that is not the run's)."""
    trust = (
        _c("dvault key export >> .dvaultsigners && git add .dvaultsigners"),
        [_t("then commit it to git: signers are trusted from git's HEAD commit, reviewed")],
    )
    if status == "unknown":
        return [(_t("The key is valid but not trusted; its owner runs:"), []), trust]
    if status == "not-local":
        return [(_c("dvault fetch"), [_t("the pinned commit, to check its signature here")])]
    steps: list[tuple[Inline, list[Inline]]] = []
    if status == "bad":
        steps.append((_t("Do not use this commit: it was forged or damaged after signing."), []))
    return [
        *steps,
        (_c("dvault key generate"), [_t("once: your ed25519 signing key")]),
        (
            _c(fix or 'dvault commit --sign -m "MESSAGE"'),
            [_t("records it signed; then commit dvault.lock to git to pin it")],
        ),
        trust,
    ]


def _remotes(r: Review, checks: list[verdict.Check]) -> Section:
    section = Section("remotes", "Remotes (backups)")
    recoverable = next((c for c in checks if c.name == "data_recoverable"), None)
    if recoverable is not None:
        section.blocks.append(Para(_t(f"Data recoverable: {recoverable.reason}.")))
    if not r.remotes:
        section.blocks.append(
            Para(_t("No remote is configured: the data exists only on this machine."))
        )
        return section
    keys = list(vars(r.remotes[0]))  # every fact a remote check records (lock mode too)
    rows = []
    for remote in r.remotes:
        facts = vars(remote)
        rows.append(tuple(_cell(facts.get(k)) for k in keys))
    section.blocks.append(Table(tuple(k.replace("_", " ") for k in keys), rows, "remotes"))
    return section


def _cell(value: object) -> Inline:
    if value is None:
        return _t("")
    if isinstance(value, list | tuple):
        return _t(", ".join(map(str, value)))
    return _t(str(value))


def _datasheets(r: Review) -> Section:
    section = Section("datasheets", "Datasheets")
    if r.datasheets is None:
        section.blocks.append(
            Para(_t("The pinned commit is not in the local store (fetch it to read them)."))
        )
        return section
    rows = []
    for d in r.datasheets:
        if "error" in d:
            state, missing, unknown = "NOT VALID: " + str(d["error"]), "", ""
        else:
            state = "complete" if d["complete"] else "incomplete" if d["found"] else "none"
            if "exempt" in d:
                state = "not required: " + str(d["exempt"])
            missing = ", ".join(map(str, d["missing"]))
            unknown = ", ".join(map(str, d["unknown"]))
        rows.append((_t(str(d["root"])), _t(state), _t(missing), _t(unknown)))
    header = ("root", "datasheet", "missing required fields", "unknown keys")
    section.blocks.append(Table(header, rows))
    if not r.datasheets_complete:
        section.blocks.append(
            Para(
                (
                    Span("To fix: "),
                    Span("dvault datasheet init ROOT", "code"),
                    Span(", fill in the fields, commit; "),
                    Span("dvault datasheet check", "code"),
                    Span(" lists what is missing."),
                )
            )
        )
    return section


FOLDER_ROWS = 100
"""Most folder rows per root in the report (the JSON has them all)."""


def _statistics(r: Review) -> Section:
    section = Section("statistics", "Statistics")
    add = section.blocks.append
    if r.stats is None:
        add(Para(_t("The pinned commit is not in the local store (fetch it to count).")))
        return section
    if r.stats.get("error"):
        add(Para(_t("Not counted: " + str(r.stats["error"]))))
        return section
    since = r.stats.get("since_commit")
    add(
        Para(
            _t(
                "Files and bytes from the trees; changes since the previous commit "
                + (f"({str(since)[:12]})." if since else "(none: the first commit).")
            )
        )
    )
    rows: list[tuple[Inline, ...]] = []
    for root in r.stats["roots"]:
        c = root["changes"] or {}
        name = str(root["root"])
        rows.append(
            tuple(
                _t(str(v))
                for v in (
                    name,
                    "(all)",
                    root["files"],
                    root["bytes"],
                    c.get("added", ""),
                    c.get("deleted", ""),
                    c.get("modified", ""),
                )
            )
        )
        folders = list(root["folders"].items())
        for folder, counts in folders[:FOLDER_ROWS]:
            cells = (name, folder, counts["files"], counts["bytes"], "", "", "")
            rows.append(tuple(_t(str(v)) for v in cells))
        if len(folders) > FOLDER_ROWS:
            more = f"({len(folders) - FOLDER_ROWS} more: dvault stats --json)"
            rows.append(tuple(_t(v) for v in (name, more, "", "", "", "", "")))
    header = ("root", "folder", "files", "bytes", "added", "deleted", "modified")
    add(Table(header, rows))
    for root in r.stats["roots"]:
        for lab in root["labels"]:
            if lab["skipped"] is not None:
                continue
            values = ", ".join(f"{k} {n}" for k, n in lab["histogram"].items())
            add(Para(_t(f"Labels in {lab['path']}: {values}")))
            if lab["changed"]:
                moves = ", ".join(
                    f"{t['count']} {t['from']} → {t['to']}" for t in lab["transitions"]
                )
                add(Para(_t(f"({lab['changed']} changed: {moves})")))
    return section
