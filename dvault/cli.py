"""The ``dvault`` command line: a thin typer layer over :class:`dvault.repo.Repo`.

Imports of the heavy parts (LMDB, zstd, dulwich) happen inside commands, so ``--help``,
``status`` and a tab completion start fast. stdout carries data (one JSON document with
``--json``); messages obey ``-q``, details ``-v``, colour ``--color``/``NO_COLOR``. Every
:class:`~dvault.errors.DvaultError` and click usage error becomes one line on stderr (a
JSON object with ``--json``) and its exit code (0 ok, 1 difference or failed check, 2 bad
input, 3 repository error); tracebacks are for bugs only. docs/cli.md is the contract.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import sys
from collections.abc import Iterator
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer

from dvault import textsafe  # small (re only): every printed line passes through it

if TYPE_CHECKING:
    from dvault.repo import Repo

app = typer.Typer(
    name="dvault",
    help="Version control and append-only backups for machine-learning data.\n\n"
    "Global options go before the command; every command has --help with examples, and "
    "commands that print data take --json.\n\n"
    "\b\nExamples:\n"
    "  dvault init && dvault add data/ && dvault commit -m 'first dataset'\n"
    "  dvault -C ~/proj status --json\n"
    "  dvault -q push origin main          # only errors\n"
    "  dvault -v checkout v1               # timings and details on stderr\n"
    "  dvault --install-completion         # tab completion for your shell",
    no_args_is_help=True,
    add_completion=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)

_state: dict[str, Any] = {
    "paths": None,
    "quiet": False,
    "verbose": False,
    "color": "auto",
    "json": False,
    "chdir": None,
}

JSON_HELP = "Print one JSON document on stdout (keys in docs/cli.md)."

_size = textsafe.human_size  # byte counts, as every command shows them


def _paths() -> list[str] | None:
    """Paths given after ``--`` on the command line (None when there was no ``--``)."""
    paths: list[str] | None = _state["paths"]
    return paths


def _no_paths(command: str) -> None:
    if _state["paths"] is not None:
        from dvault.errors import UsageError

        raise UsageError(f"{command} does not take paths after --")


def _cwd() -> Path:
    return Path(_state["chdir"] or ".")


def _disk_full(path: Path) -> bool:
    """Less than 1 MiB free where ``path`` is (LMDB reports a short write as EIO)."""
    try:
        st = os.statvfs(path)
    except OSError:
        return False
    return st.f_bavail * st.f_frsize < 1 << 20


def _local_url(url: str) -> str:
    """A relative remote path is relative to where the command runs (``-C DIR``)."""
    if "://" in url or os.path.isabs(url):
        return url
    return str((_cwd() / url).resolve())


# -- output: data on stdout, messages (quiet-able), details (verbose), errors on stderr ---
#
# These functions are the only way text reaches the terminal, and each makes untrusted
# text safe on the way (dvault/textsafe.py): anything not marked as dvault's own has its
# control characters, ESC and bidi controls shown as visible escapes, newlines included.
# Only a rendered report (_out_report) keeps newlines, and its renderer escapes each field.


class _Own(str):
    """Text dvault wrote itself (its colour codes): printed as is. A plain ``str`` built
    from it (an f-string, ``+``) is untrusted again, so trust cannot leak into a value."""


def _color_on(stream: Any) -> bool:
    """Colour for ``stream``: --color always/never, else only on a terminal, and never with
    NO_COLOR set (https://no-color.org) or TERM=dumb."""
    mode = _state["color"]
    if mode != "auto":
        return bool(mode == "always")
    if os.environ.get("NO_COLOR") or os.environ.get("TERM") == "dumb":
        return False
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


def _color(text: str, color: str) -> str:
    """``text`` (escaped) in a colour: pass it to _out as a part of its own."""
    safe = textsafe.line(text)
    return _Own(typer.style(safe, fg=color)) if _color_on(sys.stdout) else safe


def _safe(parts: tuple[str, ...]) -> str:
    """``parts`` joined, each escaped unless it is dvault's own (:class:`_Own`)."""
    if not any(isinstance(p, _Own) for p in parts):
        return textsafe.line("".join(parts))
    return "".join(p if isinstance(p, _Own) else textsafe.line(p) for p in parts)


def _out(*parts: str, nl: bool = True) -> None:
    """Data the command was asked for, one line made of ``parts``: always printed,
    whatever --quiet says."""
    typer.echo(_safe(parts), nl=nl, color=_color_on(sys.stdout))


def _out_report(text: str, nl: bool = True) -> None:
    """A rendered multi-line report (lineage, review, a completion script): newlines are
    kept, every other control character escaped; its renderer escaped each field."""
    typer.echo(textsafe.block(text), nl=nl, color=_color_on(sys.stdout))


def _echo(*parts: str) -> None:
    """A message (confirmation, summary): silenced by --quiet and by --json."""
    if not _state["quiet"] and not _state["json"]:
        _out(*parts)


def _stderr(text: str) -> None:
    """One line for people on stderr, ``dvault: `` first, escaped."""
    typer.echo(f"dvault: {textsafe.line(text)}", err=True)


def _note(text: str) -> None:
    """A detail for --verbose, on stderr so it never mixes with data."""
    if _state["verbose"]:
        _stderr(text)


def _problem(text: str) -> None:
    """A finding of a failed check: stderr, always (quiet keeps errors)."""
    _stderr(text)


def _json(value: Any) -> None:
    """One JSON document: faithful data, with the characters a terminal would act on
    written as \\uXXXX escapes (textsafe.json_text)."""
    typer.echo(textsafe.json_text(json.dumps(value, indent=2, ensure_ascii=False)))


@contextlib.contextmanager
def _progress(desc: str, total: int) -> Iterator[Any]:
    """A tqdm bar on stderr when it is a terminal, the work is big enough to watch, and
    neither --quiet nor --json asked for silence."""
    quiet = _state["quiet"] or _state["json"]
    if quiet or not sys.stderr.isatty() or total < (64 << 20):
        yield lambda _n: None
        return
    from tqdm import tqdm

    with tqdm(total=total, desc=desc, unit="B", unit_scale=True, leave=False) as bar:
        yield bar.update


@contextlib.contextmanager
def _stdout_to_stderr() -> Iterator[None]:
    """Send what a child command prints to stderr, so --json's stdout stays one document."""
    sys.stdout.flush()
    saved = os.dup(1)
    os.dup2(2, 1)
    try:
        yield
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)


def _open() -> Repo:
    from dvault.repo import Repo

    repo = Repo.open(_cwd())
    repo.progress = _progress
    _note(f"repository {repo.dir}")
    return repo


def _rel(repo: Repo, path: bytes) -> str:
    """A project path as the user should see it (relative to the current directory)."""
    full = repo.root / os.fsdecode(path)
    try:
        return os.path.relpath(full, _cwd().resolve())
    except ValueError:
        return str(full)


class ColorMode(StrEnum):
    auto = "auto"
    always = "always"
    never = "never"


@app.callback()
def _main(
    chdir: Annotated[
        Path | None, typer.Option("-C", help="Run as if started in this directory.")
    ] = None,
    quiet: Annotated[
        bool,
        typer.Option(
            "--quiet",
            "-q",
            help="Only errors and the data asked for: no confirmations, summaries or "
            "progress bars.",
        ),
    ] = False,
    verbose: Annotated[
        bool,
        typer.Option("--verbose", "-v", help="Extra detail and timings on stderr."),
    ] = False,
    color: Annotated[
        ColorMode,
        typer.Option(
            "--color",
            help="Colour: auto (default: only on a terminal, and not with NO_COLOR set), "
            "always or never.",
            case_sensitive=False,
            show_default=False,
        ),
    ] = ColorMode.auto,
) -> None:
    if quiet and verbose:
        from dvault.errors import UsageError

        raise UsageError("--quiet and --verbose contradict each other; use one")
    _state["chdir"] = chdir
    _state["quiet"] = quiet
    _state["verbose"] = verbose
    _state["color"] = color.value


JsonOpt = Annotated[bool, typer.Option("--json", help=JSON_HELP)]
AcceptRootsOpt = Annotated[
    bool,
    typer.Option(
        "--accept-roots", help="Start tracking the new roots the revision names (see them first)."
    ),
]


@app.command()
def init(
    path: Annotated[Path, typer.Argument(help="Project directory.")] = Path("."),
    as_json: JsonOpt = False,
) -> None:
    """Create a repository (.dvault); inside a git work tree, at the git root.

    \b
    Examples:
      dvault init                 # here, or at the root of the git work tree
      dvault init my-project
    """
    from dvault.repo import Repo

    _no_paths("init")
    repo = Repo.init(_cwd() / path)
    if as_json:
        _json({"root": str(repo.root), "repository": str(repo.dir)})
        return
    _echo(f"Initialized empty dvault repository in {repo.dir}")


@app.command()
def add(
    paths: Annotated[list[str], typer.Argument(help="Files or folders to track.")],
    kind: Annotated[
        str | None,
        typer.Option(help="dataset, labels, checkpoint, generator, pipeline, features, other."),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Track paths and stage their current content (new, modified and deleted files).

    \b
    Examples:
      dvault add data/images data/labels --kind dataset
      dvault add checkpoints/model.pt     # kind guessed: checkpoint
      dvault add data --json
    """
    import dataclasses

    _no_paths("add")
    with _open() as repo:
        report = repo.add([_cwd() / p for p in paths], kind=kind)
    _note(f"read {_size(report.bytes_read)}, stored {_size(report.bytes_stored)}")
    if as_json:
        _json(dataclasses.asdict(report))
        return
    _echo(
        f"staged {report.added} new, {report.modified} modified, {report.deleted} deleted "
        f"({report.unchanged} unchanged); stored {_size(report.bytes_stored)}"
    )


@app.command()
def rm(
    paths: Annotated[list[str], typer.Argument(help="Tracked paths.")],
    cached: Annotated[bool, typer.Option(help="Keep the files in the workspace.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Stop tracking paths (and delete them from the workspace unless --cached).

    \b
    Examples:
      dvault rm --cached data/scratch     # keep the files, stop versioning them
      dvault rm data/old-labels
    """
    _no_paths("rm")
    with _open() as repo:
        removed = repo.rm([_cwd() / p for p in paths], cached=cached)
    names = sorted(os.fsdecode(p) for p in removed)
    for name in names:
        _note(f"untracked {name}")
    if as_json:
        _json({"removed": names, "cached": cached})
        return
    _echo(f"untracked {len(removed)} path(s)")


@app.command()
def status(
    as_json: JsonOpt = False,
    exit_code: Annotated[
        bool, typer.Option("--exit-code", help="Exit 1 when anything is uncommitted.")
    ] = False,
) -> None:
    """Show staged changes, unstaged changes and new files under tracked roots.

    \b
    Examples:
      dvault status
      dvault status --json --exit-code    # for scripts: exit 1 when not clean
    """
    _no_paths("status")
    with _open() as repo:
        st = repo.status()
        if as_json:
            _json(st.to_json())
        else:
            _print_status(repo, st)
    if exit_code and not st.clean:
        raise typer.Exit(1)


def _print_status(repo: Repo, st: Any) -> None:
    if st.branch:
        _out(f"On branch {st.branch}")
    else:
        _out(f"HEAD detached at {st.head.hex()[:12]}")
    if st.head is None:
        _out("No commits yet")
    if st.staged:
        _out()
        _out("Changes to be committed:")
        for c in st.staged:
            _out(_color(f"  {c.status + ':':10}{_rel(repo, c.path)}", "green"))
    if st.modified or st.deleted:
        _out()
        _out("Changes not staged for commit (dvault add PATH, or commit -a):")
        changes = [("modified", p) for p in st.modified] + [("deleted", p) for p in st.deleted]
        for label, p in sorted(changes, key=lambda x: x[1]):
            _out(_color(f"  {label + ':':10}{_rel(repo, p)}", "red"))
    if st.untracked:
        _out()
        _out("New files under tracked roots (dvault add PATH, or commit -a):")
        for p in st.untracked:
            _out(_color(f"  {_rel(repo, p)}", "red"))
    if st.clean:
        _out("nothing to commit, workspace clean")


def _parse_meta(items: list[str]) -> dict[str, str]:
    from dvault.errors import UsageError

    meta = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise UsageError(f"--meta needs KEY=VALUE, got {item!r}")
        meta[key] = value
    return meta


@app.command()
def commit(
    message: Annotated[str, typer.Option("--message", "-m", help="Commit message.")],
    all_: Annotated[
        bool, typer.Option("--all", "-a", help="First stage every change under tracked roots.")
    ] = False,
    meta: Annotated[
        list[str] | None, typer.Option("--meta", help="Lineage metadata KEY=VALUE (repeatable).")
    ] = None,
    allow_empty: Annotated[bool, typer.Option(help="Commit even if nothing changed.")] = False,
    inputs: Annotated[
        list[str] | None,
        typer.Option("--input", help="Data this version derives from: REV or PATH@REV."),
    ] = None,
    sources: Annotated[
        list[str] | None,
        typer.Option("--source", help="Generator or pipeline code used (content is hashed)."),
    ] = None,
    sign: Annotated[bool, typer.Option("--sign", help="Sign with your ed25519 key.")] = False,
    key: Annotated[
        str | None, typer.Option("--key", help="Signing key name (default: your only key).")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Record the staged content as a new commit, with its lineage.

    \b
    Examples:
      dvault commit -m "first dataset"
      dvault commit -a -m "relabel cats" --meta labeler=alice --sign
      dvault commit -a -m "relabel cats" --input data/images@v3 --source relabel.py
    """
    _no_paths("commit")
    with _open() as repo:
        oid = repo.commit(
            message,
            all=all_,
            meta=_parse_meta(meta or []),
            allow_empty=allow_empty,
            inputs=inputs,
            sources=[str(_cwd() / p) for p in sources or []],
            sign=sign,
            key=key,
        )
        branch, _ = repo.head()
        if as_json:
            _json({"branch": branch, **_commit_fields(oid, repo.read_commit(oid))})
            return
    _echo(f"[{branch or 'detached HEAD'} {oid.hex()[:12]}] {textsafe.first_line(message)}")


def _commit_fields(oid: bytes, c: Any) -> dict[str, Any]:
    return {
        "id": oid.hex(),
        "tree": c.tree.hex(),
        "parents": [p.hex() for p in c.parents],
        "author": c.author,
        "time_ns": c.time_ns,
        "message": c.message,
        "roots": c.roots,
        "meta": c.meta,
    }


def _commit_json(oid: bytes, c: Any, refs: tuple[str, ...] = ()) -> dict[str, Any]:
    return {**_commit_fields(oid, c), "refs": list(refs)}


def _when(time_ns: int) -> str:
    import datetime

    return (
        datetime.datetime.fromtimestamp(time_ns / 1e9).astimezone().strftime("%Y-%m-%d %H:%M:%S %z")
    )


@app.command()
def log(
    rev: Annotated[str | None, typer.Argument(help="Start here (default HEAD).")] = None,
    oneline: Annotated[bool, typer.Option(help="One line per commit.")] = False,
    graph: Annotated[bool, typer.Option(help="Draw the commit graph.")] = False,
    as_json: JsonOpt = False,
    max_count: Annotated[int | None, typer.Option("-n", help="Show at most N commits.")] = None,
    show_signature: Annotated[
        bool, typer.Option("--show-signature", help="Check and show each commit's signature.")
    ] = False,
) -> None:
    """Show commit history, newest first; `-- PATH` limits it to commits changing PATH.

    \b
    Examples:
      dvault log --oneline --graph
      dvault log v2 -n 5 --show-signature
      dvault log --oneline -- data/labels     # only commits that changed data/labels
      dvault log --json -n 1                  # the newest commit, for scripts
    """
    from itertools import islice

    from dvault.history import graph_lines

    sigs: dict[bytes, Any] = {}
    with _open() as repo:
        entries = list(islice(repo.log(rev, [str(_cwd() / p) for p in _paths() or []]), max_count))
        if show_signature:
            from dvault.signing import trusted_signers

            signers = trusted_signers(repo.root)
            sigs = {e.id: repo.signature(e.id, signers) for e in entries}
    if as_json:
        rows = [_commit_json(e.id, e.commit, e.refs) for e in entries]
        for row, e in zip(rows, entries, strict=True):
            if e.id in sigs:
                row["signature"] = sigs[e.id].to_json()
        _json(rows)
        return
    prefixes = graph_lines(entries) if graph else None
    for i, e in enumerate(entries):
        deco = f" ({', '.join(e.refs)})" if e.refs else ""
        pre = prefixes[i] if prefixes else ("", "")
        sig = sigs.get(e.id)
        if oneline:
            mark = f" [{_SIG_MARKS[sig.status]}]" if sig is not None else ""
            title = textsafe.first_line(e.commit.message)
            _out(pre[0], _color(e.id.hex()[:12], "yellow"), f"{deco}{mark} {title}")
            continue
        _out(pre[0], _color("commit " + e.id.hex(), "yellow"), deco)
        body = [f"Signature: {sig.describe()}"] if sig is not None else []
        body += [f"Author: {e.commit.author}", f"Date:   {_when(e.commit.time_ns)}", ""]
        # indented, so no line of a message can pass for a header such as Signature:
        body += [f"    {line}" for line in textsafe.message_lines(e.commit.message)]
        body.append("")
        for line in body:
            _out(f"{pre[1]}{line}".rstrip())


_SIG_MARKS = {
    "good": "good sig",
    "bad": "BAD SIG",
    "unknown": "unknown signer",
    "unsigned": "unsigned",
}


def _change_json(c: Any) -> dict[str, Any]:
    def side(e: Any) -> dict[str, Any] | None:
        if e is None:
            return None
        return {"id": e.id.hex() or None, "mode": f"{e.mode:o}", "size": e.size}

    return {"path": os.fsdecode(c.path), "status": c.status, "old": side(c.old), "new": side(c.new)}


_LETTERS = {"added": "A", "deleted": "D", "modified": "M"}
_LETTER_COLORS = {"added": "green", "deleted": "red", "modified": "yellow"}


def _print_changes(repo: Repo, changes: list[Any], stat: bool) -> None:
    added = sum(c.new.size for c in changes if c.new is not None and not c.new.is_dir)
    removed = sum(c.old.size for c in changes if c.old is not None and not c.old.is_dir)
    for c in changes:
        line = f"  {_rel(repo, c.path)}"
        if stat:
            old = c.old.size if c.old else 0
            new = c.new.size if c.new else 0
            line += f"  ({_size(old)} -> {_size(new)})"
        _out(_color(_LETTERS[c.status], _LETTER_COLORS[c.status]), line)
    if stat:
        counts = {k: sum(1 for c in changes if c.status == k) for k in _LETTERS}
        _out(
            f" {len(changes)} paths changed: {counts['added']} added, {counts['modified']} "
            f"modified, {counts['deleted']} deleted; +{_size(added)} -{_size(removed)}"
        )


@app.command()
def diff(
    old: Annotated[str | None, typer.Argument(help="From this revision (default HEAD).")] = None,
    new: Annotated[
        str | None, typer.Argument(help="To this revision (default: the workspace).")
    ] = None,
    stat: Annotated[bool, typer.Option(help="Sizes and a summary line.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """List paths that differ between two revisions, or a revision and the workspace.

    \b
    Examples:
      dvault diff                          # HEAD against the workspace
      dvault diff v1 v2 --stat -- data/labels
      dvault diff v1 --json
    """
    with _open() as repo:
        changes = repo.diff(old, new, [str(_cwd() / p) for p in _paths() or []] or None)
        if as_json:
            _json([_change_json(c) for c in changes])
        else:
            _print_changes(repo, changes, stat)


@app.command()
def show(
    spec: Annotated[str, typer.Argument(help="REV, or REV:PATH for a file or folder.")] = "HEAD",
    as_json: JsonOpt = False,
) -> None:
    """Show a commit (with its changes), a folder listing, or a file's content.

    With --json, REV:FILE gives the file's id, mode and size instead of its bytes.

    \b
    Examples:
      dvault show v1                       # the commit, its metadata and changes
      dvault show v1:data/labels           # a folder listing
      dvault show v1:data/labels/00001.json > old-label.json
    """
    from dvault.errors import UsageError
    from dvault.objects import MODE_DIR
    from dvault.trees import EMPTY_TREE, diff_trees, lookup, read_tree

    _no_paths("show")
    rev, sep, path = spec.partition(":")
    with _open() as repo:
        oid = repo.resolve(rev or "HEAD")
        c = repo.read_commit(oid)
        if not sep:
            parent = repo.read_commit(c.parents[0]).tree if c.parents else None
            changes = list(diff_trees(repo.store, parent, c.tree))
            if as_json:
                _json({**_commit_json(oid, c), "changes": [_change_json(x) for x in changes]})
                return
            _out(_color(f"commit {oid.hex()}", "yellow"))
            _out(f"Author: {c.author}")
            _out(f"Date:   {_when(c.time_ns)}")
            for root, kind in sorted(c.roots.items()):
                _out(f"Root:   {root} ({kind})")
            for key, value in sorted(c.meta.items()):
                _out(f"Meta:   {key} = {json.dumps(value, ensure_ascii=False)}")
            _out("")
            for line in textsafe.message_lines(c.message):
                _out(f"    {line}")
            _out("")
            _print_changes(repo, changes, stat=True)
            return
        rel = path.strip("/").encode()
        entry = lookup(repo.store, c.tree, rel)
        if entry is None:
            raise UsageError(f"path {path!r} does not exist in {rev or 'HEAD'}")
        if entry.mode == MODE_DIR:
            entries = read_tree(repo.store, entry.id).entries if entry.id != EMPTY_TREE else ()
            if as_json:
                _json(
                    [
                        {
                            "name": os.fsdecode(e.name),
                            "mode": f"{e.mode:o}",
                            "size": e.size,
                            "id": e.id.hex(),
                        }
                        for e in entries
                    ]
                )
                return
            for e in entries:
                kind = "tree" if e.is_dir else ("link" if e.is_link else "file")
                _out(
                    f"{e.mode:06o} {kind:4} {e.id.hex()[:12]} {e.size:>12}  "
                    f"{os.fsdecode(e.name)}{'/' if e.is_dir else ''}"
                )
            return
        if as_json:
            _json(
                {
                    "commit": oid.hex(),
                    "path": os.fsdecode(rel),
                    "type": "link" if entry.is_link else "file",
                    "mode": f"{entry.mode:o}",
                    "size": entry.size,
                    "id": entry.id.hex(),
                }
            )
            return
        out = sys.stdout.buffer
        for piece in repo.store.iter_file_content(entry.id):
            out.write(piece)
        out.flush()


@app.command()
def checkout(
    rev: Annotated[str, typer.Argument(help="Branch, tag or commit.")],
    force: Annotated[
        bool, typer.Option("--force", "-f", help="Overwrite uncommitted changes.")
    ] = False,
    accept_roots: AcceptRootsOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Make the workspace match a revision; `-- PATH...` restores only those paths.

    A revision that tracks roots this project never tracked is refused (exit 2,
    nothing written, the roots named) until you accept them with --accept-roots.

    \b
    Examples:
      dvault checkout v1                   # the whole workspace as of tag v1
      dvault checkout main -- data/labels  # restore one folder; HEAD stays
      dvault checkout -f main              # discard uncommitted changes
      dvault checkout --accept-roots v2    # v2 tracks a new folder, and you expect it
    """
    paths = _paths()
    with _open() as repo:
        target = repo.resolve(rev) if as_json else None  # before HEAD~1 moves with HEAD
        report = repo.checkout(
            rev,
            [str(_cwd() / p) for p in paths] if paths else None,
            force=force,
            accept_roots=accept_roots,
        )
        branch, head = repo.head()
        for c in report.changes:
            _note(f"{'removed' if c.new is None else 'wrote'} {_rel(repo, c.path)}")
    if as_json:
        _json(
            {
                "rev": rev,
                "commit": target.hex() if target else None,
                "branch": branch if not paths else None,
                "head": head.hex() if head else None,
                "paths": paths,
                "written": report.written,
                "removed": report.removed,
                "bytes_written": report.bytes_written,
            }
        )
        return
    where = f"branch {branch}" if branch and not paths else rev
    _echo(
        f"checked out {where}: {report.written} written, {report.removed} removed "
        f"({_size(report.bytes_written)})"
    )


@app.command()
def branch(
    name: Annotated[str | None, typer.Argument(help="New branch name.")] = None,
    rev: Annotated[str | None, typer.Argument(help="Start point (default HEAD).")] = None,
    delete: Annotated[str | None, typer.Option("-d", "--delete", help="Delete a branch.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """List branches, create one, or delete one.

    \b
    Examples:
      dvault branch                        # list; * marks the current one
      dvault branch relabel-v2 v1          # create at tag v1
      dvault branch -d relabel-v2
    """
    _no_paths("branch")
    with _open() as repo:
        if delete:
            oid = repo.delete_branch(delete)
            if as_json:
                _json({"action": "deleted", "name": delete, "id": oid.hex()})
                return
            _echo(f"deleted branch {delete} (was {oid.hex()[:12]})")
            return
        if name:
            oid = repo.branch(name, rev)
            if as_json:
                _json({"action": "created", "name": name, "id": oid.hex()})
                return
            _echo(f"created branch {name} at {oid.hex()[:12]}")
            return
        current, _ = repo.head()
        branches = repo.refs.branches()
        if as_json:
            _json(
                [{"name": n, "id": o.hex(), "current": n == current} for n, o in branches.items()]
            )
            return
        for n, o in branches.items():
            mark = _color("*", "green") if n == current else " "
            _out(mark, f" {n:20} {o.hex()[:12]}")


def _tag_json(name: str, oid: bytes, commit: bytes, t: Any) -> dict[str, Any]:
    return {
        "name": name,
        "id": oid.hex(),
        "commit": commit.hex(),
        "message": t.message,
        "tagger": t.tagger,
        "time_ns": t.time_ns,
        "signed": t.signature is not None,
    }


@app.command()
def tag(
    name: Annotated[str | None, typer.Argument(help="New tag name.")] = None,
    rev: Annotated[str | None, typer.Argument(help="Commit to tag (default HEAD).")] = None,
    message: Annotated[str, typer.Option("--message", "-m", help="Tag message.")] = "",
    as_json: JsonOpt = False,
    sign: Annotated[bool, typer.Option("--sign", help="Sign with your ed25519 key.")] = False,
    key: Annotated[
        str | None, typer.Option("--key", help="Signing key name (default: your only key).")
    ] = None,
) -> None:
    """List tags, or create an immutable annotated tag (an existing tag never moves).

    \b
    Examples:
      dvault tag                           # list
      dvault tag v1 -m "dataset used for the baseline model" --sign
      dvault tag v0.9 3b1f0c2d9e8a
    """
    from dvault.revisions import peel

    _no_paths("tag")
    with _open() as repo:
        if name:
            oid = repo.tag(name, rev, message, sign=sign, key=key)
            t = repo.read_tag(oid)
            if as_json:
                _json(_tag_json(name, oid, t.object, t))
                return
            _echo(f"tagged {t.object.hex()[:12]} as {name}")
            return
        rows = [(n, o, peel(repo, o, n), repo.read_tag(o)) for n, o in repo.refs.tags().items()]
        if as_json:
            _json([_tag_json(n, o, c, t) for n, o, c, t in rows])
            return
        for n, _o, c, t in rows:
            _out(f"{n:20} ", _color(c.hex()[:12], "yellow"), f"  {textsafe.first_line(t.message)}")


@app.command()
def repair(as_json: JsonOpt = False) -> None:
    """Rebuild the index, salvage damaged packs, re-fetch what remotes still have, and
    restore damaged refs from their reflog.

    Never deletes anything reachable; damaged packs are moved to .dvault/damaged/.
    Exit 1 when something could not be recovered.

    \b
    Examples:
      dvault repair
      dvault repair --json && dvault verify --read-data
    """
    from dvault.maintenance.repair import repair as do_repair

    _no_paths("repair")
    with _open() as repo:
        report = do_repair(repo)
    if as_json:
        import dataclasses

        _json({"ok": report.ok, **dataclasses.asdict(report)})
    else:
        _echo(
            f"index rebuilt; salvaged {report.objects_salvaged} object(s) from "
            f"{report.packs_salvaged} damaged pack(s); re-fetched {report.objects_refetched} "
            "from remotes"
        )
        for line in report.refs_restored:
            _echo(line)
        for line in report.unrecoverable:
            _problem(line)
    if not report.ok:
        raise typer.Exit(1)


@app.command()
def gc(
    dry_run: Annotated[bool, typer.Option(help="Only report what would be removed.")] = False,
    keep_within: Annotated[
        str, typer.Option(help="Keep what reflog entries of this age reach (e.g. 14d, 12h).")
    ] = "14d",
    as_json: JsonOpt = False,
) -> None:
    """Remove objects nothing references (mark and sweep, with repacking); never touches
    remotes. Packs younger than an hour are always kept.

    \b
    Examples:
      dvault gc --dry-run                  # what would go, nothing removed
      dvault gc --keep-within 30d
    """
    from dvault.maintenance.gc import collect, parse_duration

    _no_paths("gc")
    with _open() as repo:
        report = collect(repo, dry_run, parse_duration(keep_within))
    for line in report.details:
        _note(line)
    if as_json:
        import dataclasses

        _json(dataclasses.asdict(report))
        return
    verb = "would remove" if dry_run else "removed"
    _echo(
        f"{verb} {report.removed_objects} object(s), {_size(report.removed_bytes)} "
        f"({report.packs_removed} pack(s) affected, {report.packs_rewritten} rewritten); "
        f"{report.live_objects} live; {report.packs_kept_young} young pack(s) kept"
    )


remote_app = typer.Typer(
    help="Manage remotes: append-only copies on a directory/NAS or an S3-compatible store.\n\n"
    "\b\nExamples:\n"
    "  dvault remote add origin s3://ml-backups/vision --retention 90\n"
    "  dvault remote add nas /mnt/nas/dvault/vision\n"
    "  dvault remote list --json",
    no_args_is_help=True,
)
app.add_typer(remote_app, name="remote")


def _remote_json(name: str, spec: Any) -> dict[str, Any]:
    return {"name": name, **spec.to_config()}


@remote_app.command("add")
def remote_add(
    name: Annotated[str, typer.Argument(help="Short name, e.g. origin.")],
    url: Annotated[str, typer.Argument(help="A path, file:///path, or s3://bucket/prefix.")],
    endpoint: Annotated[
        str | None, typer.Option(help="S3 endpoint URL (MinIO, Ceph RGW); default AWS.")
    ] = None,
    region: Annotated[str | None, typer.Option(help="S3 region.")] = None,
    retention: Annotated[
        int | None,
        typer.Option(help="S3 Object Lock: keep every object written at least this many days."),
    ] = None,
    profile: Annotated[str | None, typer.Option(help="AWS config profile to use.")] = None,
    protect: Annotated[
        list[str] | None,
        typer.Option(
            "--protect",
            help="Branch (glob) that only fast-forwards on this remote, even with push "
            "--force; fixed when the remote is created (repeatable).",
        ),
    ] = None,
    encrypt: Annotated[
        bool,
        typer.Option(
            help="Encrypt everything client-side (AES-256-GCM) under a passphrase "
            "(DVAULT_PASSPHRASE, else asked on the terminal)."
        ),
    ] = False,
    kdf_cost: Annotated[
        int | None,
        typer.Option(help="With --encrypt: scrypt cost as log2(n), 16-20 (default 17)."),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Add a remote. Credentials come from the standard AWS environment and profiles and
    are never written to .dvault/config.

    \b
    Examples:
      dvault remote add origin s3://ml-backups/vision --retention 90 --protect main
      dvault remote add minio s3://data/vision --endpoint http://minio:9000
      DVAULT_PASSPHRASE=... dvault remote add vault /mnt/nas/vision --encrypt
    """
    _no_paths("remote add")
    with _open() as repo:
        spec = repo.add_remote(
            name, _local_url(url), endpoint, region, retention, profile, protect, encrypt, kdf_cost
        )
    if as_json:
        _json(_remote_json(spec.name, spec))
        return
    lock = f" (encrypted, key {spec.key_id[:8]})" if spec.encrypt else ""
    _echo(f"added remote {spec.name} -> {spec.url}{lock}")


@remote_app.command("remove")
def remote_remove(
    name: Annotated[str, typer.Argument(help="Remote name.")], as_json: JsonOpt = False
) -> None:
    """Forget a remote locally (nothing on the remote is touched).

    \b
    Examples:
      dvault remote remove old-nas
    """
    _no_paths("remote remove")
    with _open() as repo:
        repo.remove_remote(name)
    if as_json:
        _json({"action": "removed", "name": name})
        return
    _echo(f"removed remote {name}")


@remote_app.command("list")
def remote_list(as_json: JsonOpt = False) -> None:
    """List remotes.

    \b
    Examples:
      dvault remote list
      dvault remote list --json
    """
    from dvault.remote.session import remote_specs

    _no_paths("remote list")
    with _open() as repo:
        specs = remote_specs(repo)
    if as_json:
        _json([_remote_json(n, spec) for n, spec in specs.items()])
        return
    for n, spec in specs.items():
        extra = f" (endpoint {spec.endpoint})" if spec.endpoint else ""
        lock = f", retention {spec.retention_days} days" if spec.retention_days else ""
        lock += ", encrypted" if spec.encrypt else ""
        _out(f"{n:12} {spec.url}{extra}{lock}")


# -- passphrases of encrypted remotes (dvault/remote/keys.py) ------------------------------

passphrase_app = typer.Typer(
    help="Passphrases of an encrypted remote: each opens a key slot that wraps the same "
    "repository key, so adding one re-encrypts nothing.\n\n"
    "\b\nExamples:\n"
    "  DVAULT_NEW_PASSPHRASE=... dvault remote passphrase add origin --label ci\n"
    "  dvault remote passphrase list origin",
    no_args_is_help=True,
)
remote_app.add_typer(passphrase_app, name="passphrase")


@passphrase_app.command("add")
def passphrase_add(
    name: Annotated[str, typer.Argument(help="Remote name.")],
    label: Annotated[
        str | None, typer.Option(help="A note stored in clear with the slot, e.g. ci.")
    ] = None,
    kdf_cost: Annotated[
        int | None, typer.Option(help="scrypt cost as log2(n), 16-20 (default 17).")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Add a passphrase: unlock with a current one (DVAULT_PASSPHRASE or asked), then give
    the new one (DVAULT_NEW_PASSPHRASE or asked twice). Old passphrases keep working until
    an administrator deletes their slot on the storage.

    \b
    Examples:
      dvault remote passphrase add origin --label ci
      DVAULT_PASSPHRASE=old DVAULT_NEW_PASSPHRASE=new dvault remote passphrase add origin
    """
    from dvault.remote import keys
    from dvault.remote.session import pick_remote

    _no_paths("remote passphrase add")
    if label is not None and (len(label) > 64 or not label.isprintable()):
        from dvault.errors import UsageError

        raise UsageError("--label must be at most 64 printable characters")
    with _open() as repo:
        spec = pick_remote(repo, name)
        slot = keys.add_passphrase(repo, spec, kdf_cost or keys.DEFAULT_LOG_N, label)
    if as_json:
        _json({"remote": spec.name, "slot": slot, "label": label})
        return
    _echo(f"added key slot {slot} to {spec.name}; no data was re-encrypted")


@passphrase_app.command("list")
def passphrase_list(
    name: Annotated[str, typer.Argument(help="Remote name.")],
    as_json: JsonOpt = False,
) -> None:
    """List the key slots of an encrypted remote (no passphrase needed).

    \b
    Examples:
      dvault remote passphrase list origin
      dvault remote passphrase list origin --json
    """
    from dvault.remote import keys
    from dvault.remote.session import pick_remote

    _no_paths("remote passphrase list")
    with _open() as repo:
        slots = keys.describe_slots(repo, pick_remote(repo, name))
    if as_json:
        _json(slots)
        return
    for slot in slots:
        mark = "  (opened by this clone last)" if slot["last_used_here"] else ""
        label = f"  {slot['label']}" if slot["label"] else ""
        _out(f"{slot['slot']}  {slot['created']}  cost {slot['kdf_cost']}{label}{mark}")


def _remote_and_refs(repo: Repo, args: list[str]) -> tuple[Any, list[str]]:
    """``[REMOTE] [REF...]``: the first word is a remote when one has that name."""
    from dvault.remote.session import pick_remote, remote_specs

    if args and args[0] in remote_specs(repo):
        return pick_remote(repo, args[0]), args[1:]
    return pick_remote(repo, None), args


@app.command()
def push(
    args: Annotated[
        list[str] | None,
        typer.Argument(help="[REMOTE] [BRANCH or TAG...] (default: HEAD's branch)."),
    ] = None,
    force: Annotated[
        bool, typer.Option(help="Append a non-fast-forward branch update (history stays).")
    ] = False,
    sign: Annotated[
        bool | None,
        typer.Option(
            "--sign/--no-sign",
            help="Sign the ref-log entry with your key (default: [push] sign, else sign "
            "when you have a key).",
        ),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Send a remote the packs it lacks, then append the ref updates to its log. Prints
    the hash of the ref-log entry at the head afterwards: what `clone --expect` takes.

    \b
    Examples:
      dvault push                          # the current branch to the only remote
      dvault push origin main v1
      dvault push origin main --force      # the old history stays on the remote
      dvault push --sign                   # fail unless the entry can be signed
    """
    from dvault.remote.push import push as do_push

    _no_paths("push")
    with _open() as repo:
        spec, refs = _remote_and_refs(repo, args or [])
        report = do_push(repo, spec, refs or None, force=force, sign=sign)
    _note(f"{report.packs_sent} pack(s) sent, {report.packs_skipped} already on {spec.name}")
    if as_json:
        _json(
            {
                "remote": spec.name,
                "url": spec.url,
                "up_to_date": report.up_to_date,
                "updated": report.updated,
                "packs_sent": report.packs_sent,
                "packs_skipped": report.packs_skipped,
                "bytes_sent": report.bytes_sent,
                "log": {"head_seq": report.log_seq, "head": report.log_head},
                "signed": report.signed,
            }
        )
        return
    if report.up_to_date:
        _echo(f"{spec.name} is up to date")
        return
    for ref, value in report.updated.items():
        _echo(f"{ref} -> {spec.name} {value[:12]}")
    _echo(
        f"sent {report.packs_sent} pack(s), {_size(report.bytes_sent)} "
        f"({report.packs_skipped} already there)"
    )
    signed = "signed " if report.signed else ""
    _echo(f"{signed}ref-log entry {report.log_seq}: {report.log_head}")


def _fetch_json(spec: Any, report: Any) -> dict[str, Any]:
    return {
        "remote": spec.name,
        "url": spec.url,
        "refs": report.refs,
        "objects": report.objects,
        "bytes_received": report.bytes_received,
        "packs_downloaded": report.packs_downloaded,
        "ranges_read": report.ranges_read,
    }


@app.command()
def fetch(
    args: Annotated[
        list[str] | None, typer.Argument(help="[REMOTE] [BRANCH or TAG...] (default: all).")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Bring in a remote's refs and the objects they need, verified on arrival.

    \b
    Examples:
      dvault fetch origin
      dvault fetch origin main v2
      dvault fetch && dvault log origin/main --oneline
    """
    from dvault.remote.fetch import fetch as do_fetch

    _no_paths("fetch")
    with _open() as repo:
        spec, refs = _remote_and_refs(repo, args or [])
        report = do_fetch(repo, spec, refs or None)
    _note(f"{report.packs_downloaded} pack(s) downloaded whole, {report.ranges_read} range read(s)")
    if as_json:
        _json(_fetch_json(spec, report))
        return
    _echo(
        f"fetched {report.objects} object(s), {_size(report.bytes_received)} from "
        f"{spec.name}; {len(report.refs)} ref(s)"
    )


@app.command()
def pull(
    args: Annotated[
        list[str] | None, typer.Argument(help="[REMOTE] [BRANCH] (default: the current branch).")
    ] = None,
    accept_roots: AcceptRootsOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Fetch a branch and fast-forward the workspace to it.

    New commits that track roots this project never tracked are refused (exit 2,
    nothing written, the roots named) until you accept them with --accept-roots.

    \b
    Examples:
      dvault pull                          # the current branch from the only remote
      dvault pull origin main
      dvault pull --accept-roots           # the branch now tracks a folder you expect
    """
    from dvault.remote.clone import pull as do_pull

    _no_paths("pull")
    with _open() as repo:
        spec, refs = _remote_and_refs(repo, args or [])
        if len(refs) > 1:
            from dvault.errors import UsageError

            raise UsageError("pull takes at most one branch")
        fetched, checkout = do_pull(repo, spec, refs[0] if refs else None, accept_roots)
    if as_json:
        _json(
            {
                **_fetch_json(spec, fetched),
                "up_to_date": checkout is None,
                "written": checkout.written if checkout else 0,
                "removed": checkout.removed if checkout else 0,
                "bytes_written": checkout.bytes_written if checkout else 0,
            }
        )
        return
    if checkout is None:
        _echo(f"already up to date with {spec.name}")
    else:
        _echo(f"pulled from {spec.name}: {checkout.written} written, {checkout.removed} removed")


@app.command()
def clone(
    url: Annotated[str, typer.Argument(help="A path, file:///path, or s3://bucket/prefix.")],
    directory: Annotated[Path | None, typer.Argument(help="Where to clone.")] = None,
    rev: Annotated[str | None, typer.Option(help="Branch or tag to check out.")] = None,
    endpoint: Annotated[str | None, typer.Option(help="S3 endpoint URL.")] = None,
    region: Annotated[str | None, typer.Option(help="S3 region.")] = None,
    profile: Annotated[str | None, typer.Option(help="AWS config profile.")] = None,
    encrypted: Annotated[
        bool, typer.Option(help="Refuse the remote unless it is encrypted.")
    ] = False,
    key_id: Annotated[
        str | None,
        typer.Option(help="Refuse the remote unless it is encrypted under this key id."),
    ] = None,
    expect: Annotated[
        str | None,
        typer.Option(
            help="Refuse the remote unless its ref log holds the entry with this hash "
            "(printed by push and verify --remote)."
        ),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Create a project from a remote; `-- PATH...` brings only those paths' data.

    \b
    Examples:
      dvault clone /mnt/nas/dvault/vision
      dvault clone s3://ml-backups/vision vision --rev v1 -- data/labels
      dvault clone s3://data/vision --endpoint http://minio:9000
      dvault clone s3://data/vision --key-id 3f0c...  --expect 9ab1...
    """
    from dvault.remote.clone import CloneTrust
    from dvault.remote.clone import clone as do_clone

    trust = CloneTrust(
        encrypted, key_id.lower() if key_id else None, expect.lower() if expect else None
    )
    name = url.rstrip("/").rsplit("/", 1)[-1] or "dvault-clone"
    dest = _cwd() / (directory or Path(name))
    report = do_clone(_local_url(url), dest, rev, _paths(), endpoint, region, profile, trust=trust)
    if as_json:
        _json(
            {
                "url": url,
                "directory": str(dest.resolve()),
                "rev": rev,
                "paths": _paths(),
                "written": report.written,
                "bytes_written": report.bytes_written,
                "roots_not_tracked": report.roots_not_tracked,
            }
        )
        return
    _echo(f"cloned {url} into {dest}: {report.written} file(s), {_size(report.bytes_written)}")
    if report.roots_not_tracked:
        shown = ", ".join(repr(r) for r in report.roots_not_tracked)
        _echo(f"not tracking {shown}: the commit names these roots but holds nothing there")


@app.command()
def verify(
    rev: Annotated[
        str | None, typer.Argument(help="Only this revision (default: all refs).")
    ] = None,
    all_refs: Annotated[bool, typer.Option("--all", help="Every branch, tag and HEAD.")] = False,
    remote: Annotated[str | None, typer.Option(help="Verify this remote instead.")] = None,
    read_data: Annotated[
        bool, typer.Option(help="Re-read and re-hash every object, not only check presence.")
    ] = False,
    sample: Annotated[
        int | None,
        typer.Option(help="Re-hash this % of the data, a rotating share (local store)."),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Check that every object the refs need is present (and intact with --read-data).

    Exit 1 when anything is missing or damaged.

    \b
    Examples:
      dvault verify                        # the local store, every ref
      dvault verify v1 --read-data         # re-hash everything v1 needs
      dvault verify --remote origin --read-data
      dvault verify --sample 10            # nightly: a rotating 10% re-hashed
    """
    from dvault.verify import verify_local, verify_remote

    _no_paths("verify")
    with _open() as repo:
        if remote is not None:
            from dvault.remote.session import pick_remote

            report = verify_remote(repo, pick_remote(repo, remote), read_data)
            where = f"remote {remote}"
        else:
            revs = None if all_refs or rev is None else [rev]
            report = verify_local(repo, revs, read_data, sample)
            where = "local store"
    sigs = report.signatures
    if as_json:
        _json(
            {
                "ok": report.ok,
                "remote": remote,
                "objects": report.objects,
                "bytes_checked": report.bytes_checked,
                "problems": report.problems,
                "log": report.log,
                "remote_only": len(report.remote_only),
                "signatures": {k: sigs.get(k, 0) for k in ("good", "bad", "unknown", "unsigned")},
            }
        )
        if not report.ok:
            raise typer.Exit(1)
        return
    for problem in report.problems:
        _problem(problem)
    checked = f", {_size(report.bytes_checked)} re-hashed" if read_data else ""
    if report.remote_only:
        checked += f" (partial clone: {len(report.remote_only)} more only on remotes)"
    if sigs.get("good") or sigs.get("bad") or sigs.get("unknown"):
        names = {"good": "good", "bad": "bad", "unknown": "unknown signer", "unsigned": "unsigned"}
        counts = [f"{sigs[k]} {label}" for k, label in names.items() if sigs.get(k)]
        checked += f"; signatures: {', '.join(counts)}"
    if report.log is not None:
        log = report.log
        _echo(
            f"{where}: ref log of {log['entries']} entries, head entry {log['head_seq']}: "
            f"{log['head']}; entries {log['describe']}"
        )
    if report.ok:
        _echo(f"{where}: {report.objects} objects OK{checked}")
        return
    _problem(f"{where}: {len(report.problems)} problem(s) in {report.objects} objects")
    raise typer.Exit(1)


@app.command(context_settings={"allow_interspersed_args": False})
def run(
    output: Annotated[list[str], typer.Option("--output", "-o", help="Path the command writes.")],
    inputs: Annotated[
        list[str] | None, typer.Option("--input", help="Data it reads: REV or PATH@REV.")
    ] = None,
    sources: Annotated[
        list[str] | None, typer.Option("--source", help="Code it runs (content is hashed).")
    ] = None,
    message: Annotated[str | None, typer.Option("--message", "-m", help="Commit message.")] = None,
    kind: Annotated[str | None, typer.Option(help="Kind of a new output root.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Run a command after `--` and commit its outputs with the command and inputs recorded.

    With --json, what the command prints goes to stderr, so stdout stays one document.

    \b
    Examples:
      dvault run --input data/raw@v1 --output data/features -- python featurize.py
      dvault run -o data/synth --source gen.py -m "synthetic v2" -- python gen.py --n 1000
    """
    from dvault.runs import run as do_run

    command = _paths() or []
    with _open() as repo, _stdout_to_stderr() if as_json else contextlib.nullcontext():
        result = do_run(
            repo,
            command,
            output,
            _cwd().resolve(),
            message,
            inputs,
            [str(_cwd() / p) for p in sources or []],
            kind,
        )
    if as_json:
        _json(
            {
                "command": command,
                "exit_code": result.exit_code,
                "seconds": round(result.seconds, 3),
                "commit": result.commit.hex() if result.commit else None,
            }
        )
        if result.commit is None:
            raise typer.Exit(1)
        return
    if result.commit is None:
        _problem(f"command exited {result.exit_code}; outputs not committed")
        raise typer.Exit(1)
    _echo(f"ran in {result.seconds:.1f} s; committed outputs as {result.commit.hex()[:12]}")


@app.command()
def rerun(
    rev: Annotated[str, typer.Argument(help="A commit made by dvault run.")],
    yes: Annotated[
        bool,
        typer.Option(
            "--yes",
            "-y",
            help="Run the recorded command even though the commit has no good signature "
            "from a trusted signer (it runs whatever the commit says).",
        ),
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Run a recorded command again and report whether its outputs match, file by file.

    The command, its directory and the commit's signature are shown first. It runs only
    when the commit has a good signature from a trusted signer, with --yes, or when you
    answer yes on a terminal; otherwise nothing runs (exit 2). A directory or output
    outside the project, or a command whose secrets were redacted, is refused (exit 2).
    Exit 1 when the outputs differ.

    \b
    Examples:
      dvault rerun HEAD
      dvault rerun v2 --yes --json
    """
    from dvault.errors import UsageError
    from dvault.runs import plan_rerun
    from dvault.runs import rerun as do_rerun

    _no_paths("rerun")
    with _open() as repo:
        plan = plan_rerun(repo, rev)
        consent_needed = not (plan.trusted or yes)
        if consent_needed or not _state["quiet"]:  # what will run, before it runs
            for text in plan.describe():
                _stderr(text)
        if consent_needed:
            if not (sys.stdin.isatty() and sys.stderr.isatty()):
                raise UsageError(
                    f"not run: {rev} is not signed by a trusted signer "
                    f"({plan.signature.status}); check the command above and pass --yes to "
                    "run it"
                )
            if not typer.confirm("Run this command?", default=False, err=True):
                raise UsageError("not run: you answered no")
        with _stdout_to_stderr() if as_json else contextlib.nullcontext():
            result = do_rerun(repo, plan)
    if as_json:
        _json({"rev": rev, "matches": result.matches, "differences": result.differences})
        if not result.matches:
            raise typer.Exit(1)
        return
    if result.matches:
        _echo(f"reproduced: the outputs match {rev} byte for byte")
        return
    for line in result.differences[:50]:
        _out(f"  {line}")
    _problem(
        f"NOT reproduced: {len(result.differences)} difference(s) from {rev} "
        "(dvault checkout -- PATH restores the committed outputs)"
    )
    raise typer.Exit(1)


def _format(fmt: str, as_json: bool, choices: tuple[str, ...]) -> str:
    """``--json`` is ``--format json``; asking for both JSON and another format is an error."""
    from dvault.errors import UsageError

    if as_json:
        if fmt not in (choices[0], "json"):
            raise UsageError(f"--json contradicts --format {fmt}; use one")
        return "json"
    if fmt not in choices:
        raise UsageError(f"unknown format {fmt!r}; use {', '.join(choices[:-1])} or {choices[-1]}")
    return fmt


@app.command()
def lineage(
    rev: Annotated[str, typer.Argument(help="Start from this revision.")] = "HEAD",
    fmt: Annotated[str, typer.Option("--format", help="text, json, dot or html.")] = "text",
    as_json: Annotated[bool, typer.Option("--json", help="Same as --format json.")] = False,
) -> None:
    """Show where a data version came from: parents, inputs, sources, commands.

    \b
    Examples:
      dvault lineage v2
      dvault lineage v2 --format html > lineage.html
      dvault lineage v2 --format dot | dot -Tsvg > lineage.svg
      dvault lineage v2 --json
    """
    from dvault import lineage as lin

    _no_paths("lineage")
    fmt = _format(fmt, as_json, ("text", "json", "dot", "html"))
    with _open() as repo:
        graph = lin.build(repo, rev)
    if fmt == "text":
        _out_report(lin.to_text(graph))
    elif fmt == "json":
        _json(lin.to_json(graph))
    elif fmt == "dot":
        _out_report(lin.to_dot(graph))
    else:
        _out_report(lin.to_html(graph, f"dvault lineage of {rev}"))


@app.command()
def review(
    git_rev: Annotated[str, typer.Argument(help="Git revision to review.")] = "HEAD",
    fmt: Annotated[str, typer.Option("--format", help="md, json or html.")] = "md",
    read_data: Annotated[
        bool, typer.Option(help="Also re-hash every object on each remote.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Same as --format json.")] = False,
) -> None:
    """Reproducibility review of a git revision: pinned data, lineage, signatures, and
    whether each remote can restore it. Exit 0 only when at least one remote can and the
    pinned commit's signature (if any) is not bad.

    \b
    Examples:
      dvault review                        # the git HEAD, as Markdown
      dvault review v1.0 --format html --read-data > review.html
      dvault review main --json
    """
    from dvault import review as rv

    _no_paths("review")
    fmt = _format(fmt, as_json, ("md", "json", "html"))
    with _open() as repo:
        result = rv.review(repo, git_rev, read_data)
    if fmt == "md":
        _out_report(rv.to_markdown(result), nl=False)
    elif fmt == "json":
        _json(result.to_json())
    else:
        _out_report(rv.to_html(result), nl=False)
    if not result.passed:
        raise typer.Exit(1)


key_app = typer.Typer(
    help="Your ed25519 signing keys (kept outside any repository, mode 0600).\n\n"
    "\b\nExamples:\n"
    "  dvault key generate && dvault key export >> .dvaultsigners  # then git commit it\n"
    "  dvault key list --json",
    no_args_is_help=True,
)
app.add_typer(key_app, name="key")


def _key_json(info: Any) -> dict[str, Any]:
    return {**info.to_json(), "signer_line": info.signer_line}


@key_app.command("generate")
def key_generate(
    name: Annotated[str, typer.Argument(help="Key name.")] = "default",
    as_json: JsonOpt = False,
) -> None:
    """Create a new signing key (an existing key is never overwritten).

    \b
    Examples:
      dvault key generate                  # the key named "default"
      dvault key generate laptop
    """
    from dvault import signing

    _no_paths("key generate")
    info = signing.generate(name)
    if as_json:
        _json(_key_json(info))
        return
    _echo(f"created key {info.name} ({info.fingerprint}) in {info.path}")
    _echo(
        f"to trust it in a project, add this line to {signing.SIGNERS_FILE} and commit it "
        f"to git (or, for yourself only, to {signing.allowed_signers_path()}):"
    )
    _echo(info.signer_line)


@key_app.command("list")
def key_list(as_json: JsonOpt = False) -> None:
    """List your signing keys with their fingerprints.

    \b
    Examples:
      dvault key list
      dvault key list --json
    """
    from dvault import signing

    _no_paths("key list")
    keys = signing.list_keys()
    if as_json:
        _json([_key_json(k) for k in keys])
        return
    for k in keys:
        _out(f"{k.name:20} {k.fingerprint}  {k.path}")


@key_app.command("export")
def key_export(
    name: Annotated[str | None, typer.Argument(help="Key name (default: your only key).")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Print a public key as a line of a trusted-signers file.

    A key is trusted when its line is in .dvaultsigners *committed to git* (HEAD's
    commit, read from git's objects: a copy only in the work tree counts for nothing),
    or in your own allowed_signers file in your dvault config directory.

    \b
    Examples:
      dvault key export >> .dvaultsigners && git add .dvaultsigners && git commit
      dvault key export >> ~/.config/dvault/allowed_signers   # trusted by you only
      dvault key export laptop --json
    """
    from dvault import signing

    _no_paths("key export")
    info, _ = signing.load_key(name)
    if as_json:
        _json(_key_json(info))
        return
    _out(info.signer_line)


hooks_app = typer.Typer(
    help="Git hooks that keep data and code in step.\n\n"
    "\b\nExamples:\n"
    "  dvault hooks install\n"
    "  dvault hooks uninstall",
    no_args_is_help=True,
)
app.add_typer(hooks_app, name="hooks")


def _hooks_json(lines: list[str]) -> list[dict[str, str]]:
    rows = []
    for line in lines:
        hook_name, _, result = line.partition(": ")
        rows.append({"hook": hook_name, "result": result})
    return rows


@hooks_app.command("install")
def hooks_install(as_json: JsonOpt = False) -> None:
    """Install post-checkout, post-merge, pre-commit and pre-push hooks (existing hooks are
    chained, never overwritten).

    \b
    Examples:
      dvault hooks install
      dvault hooks install --json
    """
    from dvault import hooks

    _no_paths("hooks install")
    with _open() as repo:
        lines = hooks.install(repo)
    if as_json:
        _json(_hooks_json(lines))
        return
    for line in lines:
        _echo(line)


@hooks_app.command("uninstall")
def hooks_uninstall(as_json: JsonOpt = False) -> None:
    """Remove dvault's hooks and restore the ones they chained to.

    \b
    Examples:
      dvault hooks uninstall
    """
    from dvault import hooks

    _no_paths("hooks uninstall")
    with _open() as repo:
        lines = hooks.uninstall(repo)
    if as_json:
        _json(_hooks_json(lines))
        return
    for line in lines:
        _echo(line)


@app.command(hidden=True)
def hook(
    name: Annotated[str, typer.Argument(help="Which git hook is running.")],
    args: Annotated[list[str] | None, typer.Argument(help="The hook's arguments.")] = None,
) -> None:
    """Entry point of the installed git hooks (not for direct use).

    \b
    Examples:
      dvault hook post-checkout OLD NEW 1  # run by git
    """
    from dvault import hooks
    from dvault.errors import DvaultError

    try:
        with _open() as repo:
            message = hooks.run(repo, name, args or [])
    except DvaultError as exc:
        _stderr(f"{name}: {exc}")
        raise typer.Exit(exc.exit_code) from None
    _stderr(f"{name}: {message}")


@app.command()
def demo(
    path: Annotated[Path, typer.Argument(help="Where to create the demo project.")] = Path(
        "dvault-demo"
    ),
) -> None:
    """Generate a small ML project, version it twice, restore v1 and verify every byte.

    A walk-through that prints what it does; it has no --json.

    \b
    Examples:
      dvault demo
      dvault demo /tmp/dvault-demo
    """
    from dvault.demo import run_demo

    _no_paths("demo")
    run_demo(_cwd() / path, _echo)


class Shell(StrEnum):
    bash = "bash"
    zsh = "zsh"
    fish = "fish"
    powershell = "powershell"
    pwsh = "pwsh"


@app.command()
def completion(
    shell: Annotated[
        Shell | None,
        typer.Argument(help="bash, zsh, fish or powershell (default: the shell you run in)."),
    ] = None,
) -> None:
    """Print the tab-completion script for a shell, to save or eval; --install-completion
    installs it for the shell you run in.

    \b
    Examples:
      eval "$(dvault completion bash)"     # this bash session only
      dvault completion bash > ~/.local/share/bash-completion/completions/dvault
      dvault completion zsh > ~/.zfunc/_dvault      # a folder on your $fpath
      dvault completion fish > ~/.config/fish/completions/dvault.fish
    """
    from typer._completion_shared import _get_shell_name, get_completion_script

    _no_paths("completion")
    name = shell.value if shell else _get_shell_name()
    if name not in set(Shell):
        from dvault.errors import UsageError

        raise UsageError(
            f"cannot complete for shell {name!r}; name one: bash, zsh, fish or powershell"
            if name
            else "cannot tell which shell you use; name it: bash, zsh, fish or powershell"
        )
    _out_report(
        get_completion_script(prog_name="dvault", complete_var="_DVAULT_COMPLETE", shell=name)
    )


def _split_argv(argv: list[str]) -> list[str]:
    """Take the paths after ``--`` out of argv (click cannot tell REV from PATH otherwise)."""
    if "--" in argv:
        at = argv.index("--")
        _state["paths"] = argv[at + 1 :]
        return argv[:at]
    _state["paths"] = None
    return argv


_GLOBAL_WITH_VALUE = ("-C", "--color")
_GLOBAL_FLAGS = ("-q", "--quiet", "-v", "--verbose")


def _command_word(args: list[str]) -> str | None:
    """The command named on the command line, after the global options (None when there is
    none, or an option this cheap scan does not know)."""
    i = 0
    while i < len(args):
        arg = args[i]
        if arg in _GLOBAL_WITH_VALUE:
            i += 2
        elif arg in _GLOBAL_FLAGS or arg.startswith(("--color=", "-C")):
            i += 1
        elif arg.startswith("-"):
            return None
        else:
            return arg
    return None


@contextlib.contextmanager
def _only_command(word: str | None) -> Iterator[None]:
    """Let typer build just the command being run. typer turns every command's signature
    into click parameters at each start (about 20 ms for all of dvault's); one command needs
    a tenth of that. Top-level help, completion and unknown words get the whole app (as
    does an app already built into a click command, as the test harness runs it)."""
    if not isinstance(app, typer.Typer):
        yield
        return
    names = {_get_name(c) for c in app.registered_commands} | {
        g.name for g in app.registered_groups
    }
    if word is None or word not in names:
        yield
        return
    saved = app.registered_commands, app.registered_groups
    app.registered_commands = [c for c in saved[0] if _get_name(c) == word]
    app.registered_groups = [g for g in saved[1] if g.name == word]
    try:
        yield
    finally:
        app.registered_commands, app.registered_groups = saved


def _get_name(info: Any) -> str:
    """A registered command's name, as typer derives it from the function."""
    return str(info.name or info.callback.__name__.lower().replace("_", "-"))


@contextlib.contextmanager
def _dvault_warnings() -> Iterator[None]:
    """Print dvault's own warnings (config.ConfigWarning: a committed setting ignored) as
    one escaped line each on stderr, whatever PYTHONWARNINGS says; others as Python
    would."""
    import warnings

    with warnings.catch_warnings():
        warnings.filterwarnings("default", category=UserWarning, module=r"dvault(\.|$)")
        shown = warnings.showwarning

        def show(message: Any, category: Any, *args: Any, **kwargs: Any) -> None:
            if category.__module__.split(".")[0] == "dvault":
                _stderr(f"warning: {message}")
            else:
                shown(message, category, *args, **kwargs)

        warnings.showwarning = show
        yield


def _fail(message: str, code: int, kind: str) -> NoReturn:
    """Report an error as one line on stderr (a JSON object with --json) and exit."""
    message = " ".join(message.split())
    if _state["json"]:
        error = {"error": {"message": message, "exit_code": code, "type": kind}}
        typer.echo(textsafe.json_text(json.dumps(error, ensure_ascii=False)), err=True)
    else:
        label = typer.style("error:", fg="red") if _color_on(sys.stderr) else "error:"
        message = textsafe.line(message)
        typer.echo(f"dvault: {label} {message}", err=True, color=_color_on(sys.stderr))
    sys.exit(code)


def _click_message(exc: Any) -> str:
    """click's usage error as one dvault line: lower-case, no trailing period, with where
    to get help."""
    import re

    text = " ".join(exc.format_message().split()).rstrip(".")
    text = re.sub(r"( Did you mean [^?]*\?)\1+", r"\1", text)  # typer and click both add it
    if text[:1].isupper() and text[1:2].islower():
        text = text[0].lower() + text[1:]
    ctx = getattr(exc, "ctx", None)
    if ctx is not None:
        text += f" (see '{ctx.command_path} --help')"
    return text


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``dvault`` console script."""
    import time

    from click.exceptions import Abort, ClickException, NoArgsIsHelpError
    from click.exceptions import UsageError as ClickUsageError

    from dvault.errors import DvaultError

    started = time.perf_counter()
    args = _split_argv(list(sys.argv[1:] if argv is None else argv))
    _state.update(quiet=False, verbose=False, color="auto", chdir=None, json="--json" in args)
    try:
        with _only_command(_command_word(args)), _dvault_warnings():
            code = app(args=args, prog_name="dvault", standalone_mode=False)
    except NoArgsIsHelpError as exc:
        exc.show()  # bare `dvault` or `dvault remote`: the help, as a usage error
        sys.exit(exc.exit_code)
    except ClickUsageError as exc:
        _fail(_click_message(exc), 2, "UsageError")
    except ClickException as exc:
        _fail(_click_message(exc), exc.exit_code, "UsageError")
    except DvaultError as exc:
        _fail(str(exc), exc.exit_code, type(exc).__name__)
    except BrokenPipeError:
        sys.stderr.close()
        sys.exit(0)
    except OSError as exc:  # a system failure no layer translated: still one line
        where = f" ({exc.filename})" if exc.filename else ""
        reason = (
            "no space left on device" if exc.errno == errno.ENOSPC else exc.strerror or str(exc)
        )
        _fail(f"{reason}{where}", 3, "StorageError")
    except (Abort, KeyboardInterrupt):
        _fail("interrupted", 130, "Interrupted")
    except Exception as exc:
        if type(exc).__module__.split(".")[0] != "lmdb":
            raise  # a bug: keep the traceback
        reason = str(exc)
        if "Input/output error" in reason and _disk_full(_cwd()):
            reason += " (no space left on device)"  # LMDB's word for a write cut short
        _fail(f"repository database: {reason}", 3, "StorageError")
    code = code if isinstance(code, int) else 0
    _note(f"done in {time.perf_counter() - started:.3f} s (exit {code})")
    sys.exit(code)
