"""``dvault datasheet show|check|init`` and ``dvault stats``: what each tracked root is
(its datasheet) and what it holds (files, bytes, labels, changes)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from dvault.cli.common import Invocation, JsonOpt, with_repository

if TYPE_CHECKING:
    from dvault.datasheet import Datasheet
    from dvault.repo import Repo
    from dvault.stats import RootStats

RootArg = Annotated[
    str | None, typer.Argument(help="A tracked root (default: every tracked root).")
]
RevOpt = Annotated[
    str | None,
    typer.Option(
        "--rev", help="Read the datasheet committed in this revision (default: the work tree)."
    ),
]


def register(app: typer.Typer) -> None:
    app.command()(stats)
    sheet_app = typer.Typer(
        help="Datasheets: each root's datasheet.toml (origin, collection, licence, personal "
        "data and consent, annotators and guideline, intended use, limitations, splits).\n\n"
        "\b\nExamples:\n"
        "  dvault datasheet init data/images && $EDITOR data/images/datasheet.toml\n"
        "  dvault datasheet check              # exit 1 while a required field is missing\n"
        "  dvault datasheet show data/images --rev v1 --json",
        no_args_is_help=True,
    )
    app.add_typer(sheet_app, name="datasheet")
    sheet_app.command("show")(datasheet_show)
    sheet_app.command("check")(datasheet_check)
    sheet_app.command("init")(datasheet_init)


def _value_lines(value: str | list[str] | dict[str, str]) -> list[tuple[str, str]]:
    """(label, text) lines of a field's value: a table one line per entry."""
    if isinstance(value, dict):
        return [(f"{k}: ", v) for k, v in value.items()]
    if isinstance(value, list):
        return [("- ", v) for v in value]
    return [("", v) for v in value.splitlines() or [""]]


def _show_one(inv: Invocation, sheet: Datasheet) -> None:
    from dvault.datasheet import FIELDS  # deferred: tomllib, only when a command runs

    if not sheet.found:
        inv.out.data("no datasheet for ", sheet.root, f" (dvault datasheet init {sheet.root})")
        return
    inv.out.data("datasheet of ", sheet.root, " (", sheet.where, ")")
    for spec in FIELDS:
        if spec.key not in sheet.fields:
            continue
        lines = _value_lines(sheet.fields[spec.key])
        if isinstance(sheet.fields[spec.key], str) and len(lines) == 1:
            inv.out.data(f"  {spec.key}: ", lines[0][1])
            continue
        inv.out.data(f"  {spec.key}:")
        for label, text in lines:
            inv.out.data("    ", label, text)
    if sheet.missing:
        inv.out.data("  missing required: ", ", ".join(sheet.missing))
    if sheet.unknown:
        inv.out.data("  unknown keys (kept, not interpreted): ", ", ".join(sorted(sheet.unknown)))


@with_repository()
def datasheet_show(
    inv: Invocation, repo: Repo, root: RootArg = None, rev: RevOpt = None, as_json: JsonOpt = False
) -> None:
    """Show the datasheet of a root (or of every root).

    \b
    Examples:
      dvault datasheet show data/images
      dvault datasheet show --rev v1 --json
    """
    sheets = repo.datasheets(inv.full([root])[0] if root is not None else None, rev)
    if as_json:
        inv.out.json([s.to_json() for s in sheets])
        return
    for sheet in sheets:
        _show_one(inv, sheet)


@with_repository()
def datasheet_check(
    inv: Invocation, repo: Repo, root: RootArg = None, rev: RevOpt = None, as_json: JsonOpt = False
) -> None:
    """List the required fields each root's datasheet is missing; exit 1 when any is.

    \b
    EXIT STATUS
      0 every datasheet is complete, 1 a datasheet is missing or incomplete,
      2 a datasheet is not valid (bad TOML, a field of the wrong type, too large).

    \b
    Examples:
      dvault datasheet check
      dvault datasheet check data/images --rev main --json   # in CI
    """
    sheets = repo.datasheets(inv.full([root])[0] if root is not None else None, rev)
    if as_json:
        inv.out.json([s.to_json() for s in sheets])
    else:
        for sheet in sheets:
            if not sheet.found:
                inv.out.data(sheet.root, ": no datasheet (dvault datasheet init ", sheet.root, ")")
            elif sheet.missing:
                inv.out.data(sheet.root, ": missing ", ", ".join(sheet.missing))
            else:
                inv.out.data(sheet.root, ": complete")
            if sheet.unknown:
                inv.out.data(sheet.root, ": unknown keys ", ", ".join(sorted(sheet.unknown)))
    if not all(s.complete for s in sheets):
        raise typer.Exit(1)


@with_repository()
def datasheet_init(
    inv: Invocation,
    repo: Repo,
    root: Annotated[str, typer.Argument(help="The tracked root to describe.")],
    as_json: JsonOpt = False,
) -> None:
    """Write ROOT/datasheet.toml: every field, commented, with what to write (an existing
    datasheet is never replaced).

    \b
    Examples:
      dvault datasheet init data/images && $EDITOR data/images/datasheet.toml
      dvault commit -a -m "datasheet for the images"
    """
    path = repo.init_datasheet(inv.full([root])[0])
    rel = str(path.relative_to(repo.root))
    if as_json:
        inv.out.json({"path": rel})
        return
    inv.out.message("wrote ", rel, ": fill in the fields, then dvault datasheet check")


def _files(n: int) -> str:
    return f"{n} file" if n == 1 else f"{n} files"


def _show_root(inv: Invocation, r: RootStats) -> None:
    from dvault.textsafe import human_size  # cheap; kept beside its one use

    inv.out.data(r.root, f" ({r.kind}): {_files(r.total.files)}, {human_size(r.total.bytes)}")
    for folder, counts in sorted(r.folders.items()):
        name = folder if folder == "." else folder + "/"
        inv.out.data("  ", name, f"  {_files(counts.files)}, {human_size(counts.bytes)}")
    if r.changes is not None:
        c = r.changes
        inv.out.data(
            f"  changed: {c.added} added, {c.deleted} deleted, {c.modified} modified "
            f"(+{human_size(c.bytes_added)}, -{human_size(c.bytes_deleted)})"
        )
    for lab in r.labels:
        if lab.skipped is not None:
            inv.out.data("  labels ", lab.path, ": skipped (", lab.skipped, ")")
            continue
        values = ", ".join(f"{k} {n}" for k, n in lab.histogram.items())
        inv.out.data("  labels ", lab.path, ": ", values)
        if lab.changed:
            moves = ", ".join(f"{n} {a}\u2192{b}" for a, b, n in lab.transitions)
            inv.out.data(f"    {lab.changed} labels changed: ", moves)


@with_repository()
def stats(
    inv: Invocation,
    repo: Repo,
    rev: Annotated[str, typer.Argument(help="The revision to count.")] = "HEAD",
    since: Annotated[
        str | None, typer.Option("--since", help="Also count what changed from this revision.")
    ] = None,
    depth: Annotated[
        int,
        typer.Option(
            "--depth", help="Count folders this many levels under each root (1 to 8).", min=1, max=8
        ),
    ] = 1,
    as_json: JsonOpt = False,
) -> None:
    """Files and bytes per root and per first-level (class) folder, from the trees alone;
    with --since, what changed; label histograms of small CSV/JSON label files.

    \b
    Examples:
      dvault stats
      dvault stats --depth 2               # images/cat/, images/dog/
      dvault stats v2 --since v1           # "40 labels changed: 40 c01→c01b"
      dvault stats --json
    """
    result = repo.stats(rev, since, depth)
    if as_json:
        inv.out.json(result.to_json())
        return
    since_text = f" since {result.since_commit[:12]}" if result.since_commit else ""
    inv.out.data(f"dvault commit {result.commit[:12]}", since_text)
    for r in result.roots:
        _show_root(inv, r)
