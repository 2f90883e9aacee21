"""``dvault lineage`` and ``review``: rendered reports on where a version came from and
whether a git revision's data can be restored."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from dvault.cli.common import Invocation, with_repository
from dvault.errors import UsageError
from dvault.textsafe import json_text

if TYPE_CHECKING:
    from dvault.pins import Pin
    from dvault.repo import Repo

_LINEAGE_FORMATS = ("text", "json", "dot", "html", "prov-json", "openlineage")
_REVIEW_FORMATS = ("md", "json", "html")


def register(app: typer.Typer) -> None:
    for command in (lineage, review):
        app.command()(command)


def _check_format(fmt: str, as_json: bool, choices: tuple[str, ...]) -> None:
    """``--json`` is ``--format json``; asking for both JSON and another format is an error."""
    if as_json:
        if fmt not in (choices[0], "json"):
            raise UsageError(f"--json contradicts --format {fmt}; use one")
        return
    if fmt not in choices:
        raise UsageError(f"unknown format {fmt!r}; use {', '.join(choices[:-1])} or {choices[-1]}")


def _lineage_format(fmt: str, as_json: bool, namespace: str | None = None, **_: object) -> None:
    _check_format(fmt, as_json, _LINEAGE_FORMATS)
    if namespace is not None and fmt != "openlineage":
        raise UsageError("--namespace is for --format openlineage")


def _review_format(fmt: str, as_json: bool, require: str | None = None, **_: object) -> None:
    _check_format(fmt, as_json, _REVIEW_FORMATS)
    if require is not None:
        _required(require)


def _required(text: str) -> None:
    """``--require`` checked before the repository is opened (the usage error
    ``Repo.review`` would raise, naming the valid checks)."""
    from dvault import verdict  # deferred: pulls in the environment and rerun records

    verdict.parse_required(text)


@with_repository(check=_lineage_format)
def lineage(
    inv: Invocation,
    repo: Repo,
    rev: Annotated[str, typer.Argument(help="Start from this revision.")] = "HEAD",
    fmt: Annotated[
        str,
        typer.Option(
            "--format", help="text, json, dot, html, prov-json (W3C PROV) or openlineage."
        ),
    ] = "text",
    as_json: Annotated[bool, typer.Option("--json", help="Same as --format json.")] = False,
    namespace: Annotated[
        str | None,
        typer.Option(
            help="OpenLineage namespace: dvault://NAME (default: the project folder's name)."
        ),
    ] = None,
) -> None:
    """Show where a data version came from: parents, inputs, sources, commands.
    --format prov-json writes a W3C PROV-JSON document; --format openlineage writes one
    OpenLineage COMPLETE run event per recorded run, one per line (JSON Lines).

    \b
    Examples:
      dvault lineage v2
      dvault lineage v2 --format html > lineage.html
      dvault lineage v2 --format dot | dot -Tsvg > lineage.svg
      dvault lineage v2 --json
      dvault lineage v2 --format prov-json > lineage.prov.json
      dvault lineage v2 --format openlineage --namespace team-vision > events.jsonl
    """
    from dvault import lineage as lin  # deferred: ~3 ms of imports --help would pay

    graph = lin.build(repo, rev)
    fmt = "json" if as_json else fmt  # checked before the repository was opened
    if fmt == "text":
        inv.out.report(lin.to_text(graph))
    elif fmt == "json":
        inv.out.json(lin.to_json(graph))
    elif fmt == "dot":
        inv.out.report(lin.to_dot(graph))
    elif fmt == "prov-json":
        from dvault import provexport  # deferred: only this format needs it

        inv.out.json(provexport.document(repo, graph))
    elif fmt == "openlineage":
        from dvault import openlineage  # deferred: only this format needs it

        _json_lines(inv, openlineage.events(repo, graph, openlineage.namespace(repo, namespace)))
    else:
        inv.out.report(lin.to_html(graph, f"dvault lineage of {rev}"))


def _json_lines(inv: Invocation, values: list[dict[str, object]]) -> None:
    """One JSON document per line (an empty output when there is none)."""
    if not values:
        inv.out.tell("no recorded dvault run in this lineage: no OpenLineage event")
        return
    inv.out.report("\n".join(json_text(json.dumps(v, sort_keys=True)) for v in values))


@with_repository(check=_review_format)
def review(
    inv: Invocation,
    repo: Repo,
    git_rev: Annotated[str, typer.Argument(help="Git revision to review.")] = "HEAD",
    fmt: Annotated[str, typer.Option("--format", help="md, json or html.")] = "md",
    read_data: Annotated[
        bool, typer.Option(help="Also re-hash every object on each remote.")
    ] = False,
    require: Annotated[
        str | None,
        typer.Option(
            "--require",
            metavar="CHECK[,CHECK...]",
            help="Exit 1 unless these checks pass (all: every check).",
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Same as --format json.")] = False,
    manifest: Annotated[
        Path | None,
        typer.Option(
            help="Also write every pinned file (root, path, size, blake3 content id) to "
            "FILE.csv or FILE.json.",
            metavar="FILE",
        ),
    ] = None,
) -> None:
    """Reproducibility review of a git revision: pinned data, lineage, signatures,
    whether each remote can restore it, and the verdict as named checks (data_recoverable,
    code_pushed, worktree_clean, environment_captured, rerun_verified, signed,
    datasheet_complete), each pass, fail or not recorded with the command that fixes it.

    Without --require: exit 0 only when at least one remote can restore the data in full
    (no redaction erased part of it or its inputs) and the pinned commit's signature (if
    any) is not bad. With --require CHECK,...: exit 1 when any of those checks did not
    pass (or the signature is bad), after the report.

    \b
    Examples:
      dvault review                        # the git HEAD, as Markdown
      dvault review v1.0 --format html --read-data > review.html
      dvault review main --json
      dvault review --require code_pushed,signed,rerun_verified
      dvault review --require all --format html > review.html
      dvault review v1.0 --manifest manifest.csv > review.md
    """
    from dvault import __version__, reviewrender

    if manifest is not None:
        from dvault import manifest as mf  # deferred: only --manifest needs it

        mf.check_destination(repo, inv.cwd() / manifest)  # before the (slow) review
    result = repo.review(git_rev, read_data, require)
    if manifest is not None:
        _write_manifest(inv, repo, result.pin, result.git_commit, inv.cwd() / manifest)
    fmt = "json" if as_json else fmt  # checked before the repository was opened
    made = reviewrender.produced_now(__version__)
    if fmt == "json":
        inv.out.json(reviewrender.json_document(result, made))
    else:
        inv.out.report(reviewrender.RENDERERS[fmt](result, made), nl=False)
    failed = result.required_failed
    if failed and fmt != "json":  # the document says it: required_failed
        inv.out.problem(f"required check(s) did not pass: {', '.join(failed)}")
    if not result.exit_ok:
        raise typer.Exit(1)


def _write_manifest(inv: Invocation, repo: Repo, pin: Pin, git_commit: str, dest: Path) -> None:
    """The pinned commit's manifest, or one error line (nothing written); the count goes
    to stderr, so stdout stays the report."""
    from dvault import manifest as mf  # deferred: only --manifest needs it

    count = mf.write_pinned(repo, pin.commit, set(pin.roots), git_commit, dest)
    if not inv.out.quiet:
        inv.out.tell(f"manifest: {count} file(s) written to {dest}")
