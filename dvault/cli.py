"""The ``dvault`` command line: a thin typer layer over :class:`dvault.repo.Repo`.

Imports of the heavy parts (LMDB, zstd, dulwich) happen inside commands, so ``--help``
and ``status`` start fast. Every :class:`~dvault.errors.DvaultError` becomes one line on
stderr and its exit code (0 ok, 1 difference or failed check, 2 bad input, 3 repository
error); tracebacks are for bugs only.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

if TYPE_CHECKING:
    from dvault.repo import Repo

app = typer.Typer(
    name="dvault",
    help="Version control and append-only backups for machine-learning data.\n\n"
    "Example: dvault init && dvault add data/ && dvault commit -m 'first dataset'",
    no_args_is_help=True,
    add_completion=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)

_state: dict[str, Any] = {"paths": None, "quiet": False, "chdir": None}


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


def _color(text: str, color: str) -> str:
    return typer.style(text, fg=color) if sys.stdout.isatty() else text


def _echo(text: str = "") -> None:
    if not _state["quiet"]:
        typer.echo(text)


def _json(value: Any) -> None:
    typer.echo(json.dumps(value, indent=2, ensure_ascii=False))


@contextlib.contextmanager
def _progress(desc: str, total: int) -> Iterator[Any]:
    """A tqdm bar on stderr when it is a terminal and the work is big enough to watch."""
    if _state["quiet"] or not sys.stderr.isatty() or total < (64 << 20):
        yield lambda _n: None
        return
    from tqdm import tqdm

    with tqdm(total=total, desc=desc, unit="B", unit_scale=True, leave=False) as bar:
        yield bar.update


def _open() -> Repo:
    from dvault.repo import Repo

    repo = Repo.open(_cwd())
    repo.progress = _progress
    return repo


def _rel(repo: Repo, path: bytes) -> str:
    """A project path as the user should see it (relative to the current directory)."""
    full = repo.root / os.fsdecode(path)
    try:
        return os.path.relpath(full, _cwd().resolve())
    except ValueError:
        return str(full)


@app.callback()
def _main(
    chdir: Annotated[
        Path | None, typer.Option("-C", help="Run as if started in this directory.")
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Print only errors.")] = False,
) -> None:
    _state["chdir"] = chdir
    _state["quiet"] = quiet


@app.command()
def init(path: Annotated[Path, typer.Argument(help="Project directory.")] = Path(".")) -> None:
    """Create a repository (.dvault); inside a git work tree, at the git root.

    Example: dvault init my-project
    """
    from dvault.repo import Repo

    _no_paths("init")
    repo = Repo.init(_cwd() / path)
    _echo(f"Initialized empty dvault repository in {repo.dir}")


@app.command()
def add(
    paths: Annotated[list[str], typer.Argument(help="Files or folders to track.")],
    kind: Annotated[
        str | None,
        typer.Option(help="dataset, labels, checkpoint, generator, pipeline, features, other."),
    ] = None,
) -> None:
    """Track paths and stage their current content (new, modified and deleted files).

    Example: dvault add data/images data/labels --kind dataset
    """
    _no_paths("add")
    with _open() as repo:
        report = repo.add([_cwd() / p for p in paths], kind=kind)
    _echo(
        f"staged {report.added} new, {report.modified} modified, {report.deleted} deleted "
        f"({report.unchanged} unchanged); stored {_size(report.bytes_stored)}"
    )


@app.command()
def rm(
    paths: Annotated[list[str], typer.Argument(help="Tracked paths.")],
    cached: Annotated[bool, typer.Option(help="Keep the files in the workspace.")] = False,
) -> None:
    """Stop tracking paths (and delete them from the workspace unless --cached).

    Example: dvault rm --cached data/scratch
    """
    _no_paths("rm")
    with _open() as repo:
        removed = repo.rm([_cwd() / p for p in paths], cached=cached)
    _echo(f"untracked {len(removed)} path(s)")


@app.command()
def status(
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
    exit_code: Annotated[
        bool, typer.Option("--exit-code", help="Exit 1 when anything is uncommitted.")
    ] = False,
) -> None:
    """Show staged changes, unstaged changes and new files under tracked roots.

    Example: dvault status --json --exit-code
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
        _echo(f"On branch {st.branch}")
    else:
        _echo(f"HEAD detached at {st.head.hex()[:12]}")
    if st.head is None:
        _echo("No commits yet")
    if st.staged:
        _echo("\nChanges to be committed:")
        for c in st.staged:
            _echo(_color(f"  {c.status + ':':10}{_rel(repo, c.path)}", "green"))
    if st.modified or st.deleted:
        _echo("\nChanges not staged for commit (dvault add PATH, or commit -a):")
        changes = [("modified", p) for p in st.modified] + [("deleted", p) for p in st.deleted]
        for label, p in sorted(changes, key=lambda x: x[1]):
            _echo(_color(f"  {label + ':':10}{_rel(repo, p)}", "red"))
    if st.untracked:
        _echo("\nNew files under tracked roots (dvault add PATH, or commit -a):")
        for p in st.untracked:
            _echo(_color(f"  {_rel(repo, p)}", "red"))
    if st.clean:
        _echo("nothing to commit, workspace clean")


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
) -> None:
    """Record the staged content as a new commit, with its lineage.

    Example: dvault commit -a -m "relabel cats" --input data/images@v3 --source relabel.py
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
    _echo(f"[{branch or 'detached HEAD'} {oid.hex()[:12]}] {message.splitlines()[0]}")


def _commit_json(oid: bytes, c: Any, refs: tuple[str, ...] = ()) -> dict[str, Any]:
    return {
        "id": oid.hex(),
        "tree": c.tree.hex(),
        "parents": [p.hex() for p in c.parents],
        "author": c.author,
        "time_ns": c.time_ns,
        "message": c.message,
        "roots": c.roots,
        "meta": c.meta,
        "refs": list(refs),
    }


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
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
    max_count: Annotated[int | None, typer.Option("-n", help="Show at most N commits.")] = None,
    show_signature: Annotated[
        bool, typer.Option("--show-signature", help="Check and show each commit's signature.")
    ] = False,
) -> None:
    """Show commit history, newest first; `-- PATH` limits it to commits changing PATH.

    Example: dvault log --oneline --graph -- data/labels
    """
    from itertools import islice

    from dvault.history import graph_lines

    sigs: dict[bytes, Any] = {}
    with _open() as repo:
        entries = list(islice(repo.log(rev, [str(_cwd() / p) for p in _paths() or []]), max_count))
        if show_signature:
            from dvault.signing import load_signers

            signers = load_signers(repo.root)
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
            typer.echo(
                f"{pre[0]}{_color(e.id.hex()[:12], 'yellow')}{deco}{mark} "
                f"{e.commit.message.splitlines()[0]}"
            )
            continue
        typer.echo(f"{pre[0]}{_color('commit ' + e.id.hex(), 'yellow')}{deco}")
        body = [f"Signature: {sig.describe()}"] if sig is not None else []
        body += [f"Author: {e.commit.author}", f"Date:   {_when(e.commit.time_ns)}", ""]
        body += [f"    {line}" for line in e.commit.message.splitlines()]
        body.append("")
        for line in body:
            typer.echo(f"{pre[1]}{line}".rstrip())


_SIG_MARKS = {
    "good": "good sig",
    "bad": "BAD SIG",
    "unknown": "unknown signer",
    "unsigned": "unsigned",
}


def _size(n: int) -> str:
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if size < 1024 or unit == "TiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{n} B"


def _change_json(c: Any) -> dict[str, Any]:
    def side(e: Any) -> dict[str, Any] | None:
        if e is None:
            return None
        return {"id": e.id.hex() or None, "mode": f"{e.mode:o}", "size": e.size}

    return {"path": os.fsdecode(c.path), "status": c.status, "old": side(c.old), "new": side(c.new)}


def _print_changes(repo: Repo, changes: list[Any], stat: bool) -> None:
    letters = {"added": "A", "deleted": "D", "modified": "M"}
    added = sum(c.new.size for c in changes if c.new is not None and not c.new.is_dir)
    removed = sum(c.old.size for c in changes if c.old is not None and not c.old.is_dir)
    for c in changes:
        line = f"{letters[c.status]}  {_rel(repo, c.path)}"
        if stat:
            old = c.old.size if c.old else 0
            new = c.new.size if c.new else 0
            line += f"  ({_size(old)} -> {_size(new)})"
        typer.echo(line)
    if stat:
        counts = {k: sum(1 for c in changes if c.status == k) for k in letters}
        typer.echo(
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
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """List paths that differ between two revisions, or a revision and the workspace.

    Example: dvault diff v1 v2 --stat -- data/labels
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
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Show a commit (with its changes), a folder listing, or a file's content.

    Example: dvault show v1:data/labels/00001.json
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
            typer.echo(_color(f"commit {oid.hex()}", "yellow"))
            typer.echo(f"Author: {c.author}\nDate:   {_when(c.time_ns)}")
            for root, kind in sorted(c.roots.items()):
                typer.echo(f"Root:   {root} ({kind})")
            for key, value in sorted(c.meta.items()):
                typer.echo(f"Meta:   {key} = {json.dumps(value)}")
            typer.echo("")
            for line in c.message.splitlines():
                typer.echo(f"    {line}")
            typer.echo("")
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
                typer.echo(
                    f"{e.mode:06o} {kind:4} {e.id.hex()[:12]} {e.size:>12}  "
                    f"{os.fsdecode(e.name)}{'/' if e.is_dir else ''}"
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
) -> None:
    """Make the workspace match a revision; `-- PATH...` restores only those paths.

    Example: dvault checkout v1 -- data/labels
    """
    paths = _paths()
    with _open() as repo:
        report = repo.checkout(
            rev, [str(_cwd() / p) for p in paths] if paths else None, force=force
        )
        branch, _ = repo.head()
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
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """List branches, create one, or delete one.

    Example: dvault branch relabel-v2 v1
    """
    _no_paths("branch")
    with _open() as repo:
        if delete:
            oid = repo.delete_branch(delete)
            _echo(f"deleted branch {delete} (was {oid.hex()[:12]})")
            return
        if name:
            oid = repo.branch(name, rev)
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
            mark = "*" if n == current else " "
            typer.echo(f"{mark} {n:20} {o.hex()[:12]}")


@app.command()
def tag(
    name: Annotated[str | None, typer.Argument(help="New tag name.")] = None,
    rev: Annotated[str | None, typer.Argument(help="Commit to tag (default HEAD).")] = None,
    message: Annotated[str, typer.Option("--message", "-m", help="Tag message.")] = "",
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
    sign: Annotated[bool, typer.Option("--sign", help="Sign with your ed25519 key.")] = False,
    key: Annotated[
        str | None, typer.Option("--key", help="Signing key name (default: your only key).")
    ] = None,
) -> None:
    """List tags, or create an immutable annotated tag (an existing tag never moves).

    Example: dvault tag v1 -m "dataset used for the baseline model" --sign
    """
    from dvault.revisions import peel

    _no_paths("tag")
    with _open() as repo:
        if name:
            oid = repo.tag(name, rev, message, sign=sign, key=key)
            _echo(f"tagged {repo.read_tag(oid).object.hex()[:12]} as {name}")
            return
        rows = [(n, peel(repo, o, n), repo.read_tag(o)) for n, o in repo.refs.tags().items()]
        if as_json:
            _json(
                [
                    {
                        "name": n,
                        "commit": c.hex(),
                        "message": t.message,
                        "tagger": t.tagger,
                        "time_ns": t.time_ns,
                        "signed": t.signature is not None,
                    }
                    for n, c, t in rows
                ]
            )
            return
        for n, c, t in rows:
            first = t.message.splitlines()[0] if t.message else ""
            typer.echo(f"{n:20} {c.hex()[:12]}  {first}")


@app.command()
def repair() -> None:
    """Rebuild the index, salvage damaged packs, re-fetch what remotes still have, and
    restore damaged refs from their reflog.

    Never deletes anything reachable; damaged packs are moved to .dvault/damaged/.
    Exit 1 when something could not be recovered. Example: dvault repair
    """
    from dvault.maintenance.repair import repair as do_repair

    _no_paths("repair")
    with _open() as repo:
        report = do_repair(repo)
    _echo(
        f"index rebuilt; salvaged {report.objects_salvaged} object(s) from "
        f"{report.packs_salvaged} damaged pack(s); re-fetched {report.objects_refetched} "
        "from remotes"
    )
    for line in report.refs_restored:
        _echo(line)
    for line in report.unrecoverable:
        typer.echo(f"dvault: {line}", err=True)
    if not report.ok:
        raise typer.Exit(1)


@app.command()
def gc(
    dry_run: Annotated[bool, typer.Option(help="Only report what would be removed.")] = False,
    keep_within: Annotated[
        str, typer.Option(help="Keep what reflog entries of this age reach (e.g. 14d, 12h).")
    ] = "14d",
) -> None:
    """Remove objects nothing references (mark and sweep, with repacking); never touches
    remotes. Packs younger than an hour are always kept.

    Example: dvault gc --dry-run --keep-within 30d
    """
    from dvault.maintenance.gc import collect, parse_duration

    _no_paths("gc")
    with _open() as repo:
        report = collect(repo, dry_run, parse_duration(keep_within))
    verb = "would remove" if dry_run else "removed"
    _echo(
        f"{verb} {report.removed_objects} object(s), {_size(report.removed_bytes)} "
        f"({report.packs_removed} pack(s) affected, {report.packs_rewritten} rewritten); "
        f"{report.live_objects} live; {report.packs_kept_young} young pack(s) kept"
    )


remote_app = typer.Typer(
    help="Manage remotes: append-only copies on a directory/NAS or an S3-compatible store.\n\n"
    "Example: dvault remote add origin s3://ml-backups/vision --retention 90",
    no_args_is_help=True,
)
app.add_typer(remote_app, name="remote")


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
        typer.Option(help="With --encrypt: scrypt cost as log2(n), 14-20 (default 17)."),
    ] = None,
) -> None:
    """Add a remote. Credentials come from the standard AWS environment and profiles and
    are never written to .dvault/config.

    Example: dvault remote add origin s3://ml-backups/vision --retention 90 --protect main
    """
    _no_paths("remote add")
    with _open() as repo:
        spec = repo.add_remote(
            name, _local_url(url), endpoint, region, retention, profile, protect, encrypt, kdf_cost
        )
    lock = f" (encrypted, key {spec.key_id[:8]})" if spec.encrypt else ""
    _echo(f"added remote {spec.name} -> {spec.url}{lock}")


@remote_app.command("remove")
def remote_remove(name: Annotated[str, typer.Argument(help="Remote name.")]) -> None:
    """Forget a remote locally (nothing on the remote is touched).

    Example: dvault remote remove old-nas
    """
    _no_paths("remote remove")
    with _open() as repo:
        repo.remove_remote(name)
    _echo(f"removed remote {name}")


@remote_app.command("list")
def remote_list(
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """List remotes.

    Example: dvault remote list --json
    """
    from dvault.remote.session import remote_specs

    _no_paths("remote list")
    with _open() as repo:
        specs = remote_specs(repo)
    if as_json:
        _json([{"name": n, **spec.to_config()} for n, spec in specs.items()])
        return
    for n, spec in specs.items():
        extra = f" (endpoint {spec.endpoint})" if spec.endpoint else ""
        lock = f", retention {spec.retention_days} days" if spec.retention_days else ""
        lock += ", encrypted" if spec.encrypt else ""
        typer.echo(f"{n:12} {spec.url}{extra}{lock}")


# -- passphrases of encrypted remotes (dvault/remote/keys.py) ------------------------------

passphrase_app = typer.Typer(
    help="Passphrases of an encrypted remote: each opens a key slot that wraps the same "
    "repository key, so adding one re-encrypts nothing.",
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
        int | None, typer.Option(help="scrypt cost as log2(n), 14-20 (default 17).")
    ] = None,
) -> None:
    """Add a passphrase: unlock with a current one (DVAULT_PASSPHRASE or asked), then give
    the new one (DVAULT_NEW_PASSPHRASE or asked twice). Old passphrases keep working until
    an administrator deletes their slot on the storage.

    Example: dvault remote passphrase add origin --label ci
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
    _echo(f"added key slot {slot} to {spec.name}; no data was re-encrypted")


@passphrase_app.command("list")
def passphrase_list(
    name: Annotated[str, typer.Argument(help="Remote name.")],
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """List the key slots of an encrypted remote (no passphrase needed).

    Example: dvault remote passphrase list origin
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
        typer.echo(f"{slot['slot']}  {slot['created']}  cost {slot['kdf_cost']}{label}{mark}")


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
) -> None:
    """Send a remote the packs it lacks, then append the ref updates to its log.

    Example: dvault push origin main v1
    """
    from dvault.remote.push import push as do_push

    _no_paths("push")
    with _open() as repo:
        spec, refs = _remote_and_refs(repo, args or [])
        report = do_push(repo, spec, refs or None, force=force)
    if report.up_to_date:
        _echo(f"{spec.name} is up to date")
        return
    for ref, value in report.updated.items():
        _echo(f"{ref} -> {spec.name} {value[:12]}")
    _echo(
        f"sent {report.packs_sent} pack(s), {_size(report.bytes_sent)} "
        f"({report.packs_skipped} already there)"
    )


@app.command()
def fetch(
    args: Annotated[
        list[str] | None, typer.Argument(help="[REMOTE] [BRANCH or TAG...] (default: all).")
    ] = None,
) -> None:
    """Bring in a remote's refs and the objects they need, verified on arrival.

    Example: dvault fetch origin
    """
    from dvault.remote.fetch import fetch as do_fetch

    _no_paths("fetch")
    with _open() as repo:
        spec, refs = _remote_and_refs(repo, args or [])
        report = do_fetch(repo, spec, refs or None)
    _echo(
        f"fetched {report.objects} object(s), {_size(report.bytes_received)} from "
        f"{spec.name}; {len(report.refs)} ref(s)"
    )


@app.command()
def pull(
    args: Annotated[
        list[str] | None, typer.Argument(help="[REMOTE] [BRANCH] (default: the current branch).")
    ] = None,
) -> None:
    """Fetch a branch and fast-forward the workspace to it.

    Example: dvault pull origin main
    """
    from dvault.remote.fetch import pull as do_pull

    _no_paths("pull")
    with _open() as repo:
        spec, refs = _remote_and_refs(repo, args or [])
        if len(refs) > 1:
            from dvault.errors import UsageError

            raise UsageError("pull takes at most one branch")
        _, checkout = do_pull(repo, spec, refs[0] if refs else None)
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
) -> None:
    """Create a project from a remote; `-- PATH...` brings only those paths' data.

    Example: dvault clone s3://ml-backups/vision vision --rev v1 -- data/labels
    """
    from dvault.remote.fetch import clone as do_clone

    name = url.rstrip("/").rsplit("/", 1)[-1] or "dvault-clone"
    dest = _cwd() / (directory or Path(name))
    report = do_clone(_local_url(url), dest, rev, _paths(), endpoint, region, profile)
    _echo(f"cloned {url} into {dest}: {report.written} file(s), {_size(report.bytes_written)}")


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
) -> None:
    """Check that every object the refs need is present (and intact with --read-data).

    Exit 1 when anything is missing or damaged. Example: dvault verify --remote origin
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
    for problem in report.problems:
        typer.echo(f"dvault: {problem}", err=True)
    checked = f", {_size(report.bytes_checked)} re-hashed" if read_data else ""
    if report.remote_only:
        checked += f" (partial clone: {len(report.remote_only)} more only on remotes)"
    sigs = report.signatures
    if sigs.get("good") or sigs.get("bad") or sigs.get("unknown"):
        names = {"good": "good", "bad": "bad", "unknown": "unknown signer", "unsigned": "unsigned"}
        counts = [f"{sigs[k]} {label}" for k, label in names.items() if sigs.get(k)]
        checked += f"; signatures: {', '.join(counts)}"
    if report.ok:
        _echo(f"{where}: {report.objects} objects OK{checked}")
        return
    typer.echo(f"{where}: {len(report.problems)} problem(s) in {report.objects} objects", err=True)
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
) -> None:
    """Run a command after `--` and commit its outputs with the command and inputs recorded.

    Example: dvault run --input data/raw@v1 --output data/features -- python featurize.py
    """
    from dvault.runs import run as do_run

    command = _paths() or []
    with _open() as repo:
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
    if result.commit is None:
        typer.echo(f"dvault: command exited {result.exit_code}; outputs not committed", err=True)
        raise typer.Exit(1)
    _echo(f"ran in {result.seconds:.1f} s; committed outputs as {result.commit.hex()[:12]}")


@app.command()
def rerun(rev: Annotated[str, typer.Argument(help="A commit made by dvault run.")]) -> None:
    """Run a recorded command again and report whether its outputs match, file by file.

    Exit 1 when they differ. Example: dvault rerun HEAD
    """
    from dvault.runs import rerun as do_rerun

    _no_paths("rerun")
    with _open() as repo:
        result = do_rerun(repo, rev)
    if result.matches:
        _echo(f"reproduced: the outputs match {rev} byte for byte")
        return
    for line in result.differences[:50]:
        typer.echo(f"  {line}")
    typer.echo(
        f"NOT reproduced: {len(result.differences)} difference(s) from {rev} "
        "(dvault checkout -- PATH restores the committed outputs)",
        err=True,
    )
    raise typer.Exit(1)


@app.command()
def lineage(
    rev: Annotated[str, typer.Argument(help="Start from this revision.")] = "HEAD",
    fmt: Annotated[str, typer.Option("--format", help="text, json, dot or html.")] = "text",
) -> None:
    """Show where a data version came from: parents, inputs, sources, commands.

    Example: dvault lineage v2 --format html > lineage.html
    """
    from dvault import lineage as lin
    from dvault.errors import UsageError

    _no_paths("lineage")
    with _open() as repo:
        graph = lin.build(repo, rev)
    if fmt == "text":
        typer.echo(lin.to_text(graph))
    elif fmt == "json":
        _json(lin.to_json(graph))
    elif fmt == "dot":
        typer.echo(lin.to_dot(graph))
    elif fmt == "html":
        typer.echo(lin.to_html(graph, f"dvault lineage of {rev}"))
    else:
        raise UsageError(f"unknown format {fmt!r}; use text, json, dot or html")


@app.command()
def review(
    git_rev: Annotated[str, typer.Argument(help="Git revision to review.")] = "HEAD",
    fmt: Annotated[str, typer.Option("--format", help="md, json or html.")] = "md",
    read_data: Annotated[
        bool, typer.Option(help="Also re-hash every object on each remote.")
    ] = False,
) -> None:
    """Reproducibility review of a git revision: pinned data, lineage, signatures, and
    whether each remote can restore it. Exit 0 only when at least one remote can and the
    pinned commit's signature (if any) is not bad.

    Example: dvault review v1.0 --format html --read-data > review.html
    """
    from dvault import review as rv
    from dvault.errors import UsageError

    _no_paths("review")
    with _open() as repo:
        result = rv.review(repo, git_rev, read_data)
    if fmt == "md":
        typer.echo(rv.to_markdown(result), nl=False)
    elif fmt == "json":
        _json(result.to_json())
    elif fmt == "html":
        typer.echo(rv.to_html(result), nl=False)
    else:
        raise UsageError(f"unknown format {fmt!r}; use md, json or html")
    if not result.passed:
        raise typer.Exit(1)


key_app = typer.Typer(
    help="Your ed25519 signing keys (kept outside any repository, mode 0600).\n\n"
    "Example: dvault key generate && dvault key export >> .dvaultsigners",
    no_args_is_help=True,
)
app.add_typer(key_app, name="key")


@key_app.command("generate")
def key_generate(
    name: Annotated[str, typer.Argument(help="Key name.")] = "default",
) -> None:
    """Create a new signing key (an existing key is never overwritten).

    Example: dvault key generate laptop
    """
    from dvault import signing

    _no_paths("key generate")
    info = signing.generate(name)
    _echo(f"created key {info.name} ({info.fingerprint}) in {info.path}")
    _echo(f"to trust it in a project, add this line to {signing.SIGNERS_FILE}:")
    _echo(info.signer_line)


@key_app.command("list")
def key_list(
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """List your signing keys with their fingerprints.

    Example: dvault key list --json
    """
    from dvault import signing

    _no_paths("key list")
    keys = signing.list_keys()
    if as_json:
        _json([k.to_json() for k in keys])
        return
    for k in keys:
        typer.echo(f"{k.name:20} {k.fingerprint}  {k.path}")


@key_app.command("export")
def key_export(
    name: Annotated[str | None, typer.Argument(help="Key name (default: your only key).")] = None,
) -> None:
    """Print a public key as a line of the trusted-signers file (.dvaultsigners).

    Example: dvault key export >> .dvaultsigners
    """
    from dvault import signing

    _no_paths("key export")
    info, _ = signing.load_key(name)
    typer.echo(info.signer_line)


hooks_app = typer.Typer(
    help="Git hooks that keep data and code in step.\n\nExample: dvault hooks install",
    no_args_is_help=True,
)
app.add_typer(hooks_app, name="hooks")


@hooks_app.command("install")
def hooks_install() -> None:
    """Install post-checkout, post-merge, pre-commit and pre-push hooks (existing hooks are
    chained, never overwritten).

    Example: dvault hooks install
    """
    from dvault import hooks

    _no_paths("hooks install")
    with _open() as repo:
        for line in hooks.install(repo):
            _echo(line)


@hooks_app.command("uninstall")
def hooks_uninstall() -> None:
    """Remove dvault's hooks and restore the ones they chained to.

    Example: dvault hooks uninstall
    """
    from dvault import hooks

    _no_paths("hooks uninstall")
    with _open() as repo:
        for line in hooks.uninstall(repo):
            _echo(line)


@app.command(hidden=True)
def hook(
    name: Annotated[str, typer.Argument(help="Which git hook is running.")],
    args: Annotated[list[str] | None, typer.Argument(help="The hook's arguments.")] = None,
) -> None:
    """Entry point of the installed git hooks (not for direct use).

    Example: (run by git) dvault hook post-checkout OLD NEW 1
    """
    from dvault import hooks
    from dvault.errors import DvaultError

    try:
        with _open() as repo:
            message = hooks.run(repo, name, args or [])
    except DvaultError as exc:
        typer.echo(f"dvault: {name}: {exc}", err=True)
        raise typer.Exit(exc.exit_code) from None
    typer.echo(f"dvault: {name}: {message}", err=True)


@app.command()
def demo(
    path: Annotated[Path, typer.Argument(help="Where to create the demo project.")] = Path(
        "dvault-demo"
    ),
) -> None:
    """Generate a small ML project, version it twice, restore v1 and verify every byte.

    Example: dvault demo /tmp/dvault-demo
    """
    from dvault.demo import run_demo

    _no_paths("demo")
    run_demo(_cwd() / path, _echo)


def _split_argv(argv: list[str]) -> list[str]:
    """Take the paths after ``--`` out of argv (click cannot tell REV from PATH otherwise)."""
    if "--" in argv:
        at = argv.index("--")
        _state["paths"] = argv[at + 1 :]
        return argv[:at]
    _state["paths"] = None
    return argv


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``dvault`` console script."""
    from dvault.errors import DvaultError

    args = _split_argv(list(sys.argv[1:] if argv is None else argv))
    try:
        app(args=args, prog_name="dvault")
    except DvaultError as exc:
        typer.echo(f"dvault: error: {exc}", err=True)
        sys.exit(exc.exit_code)
    except BrokenPipeError:
        sys.stderr.close()
        sys.exit(0)
    except OSError as exc:  # a system failure no layer translated: still one line
        where = f" ({exc.filename})" if exc.filename else ""
        reason = (
            "no space left on device" if exc.errno == errno.ENOSPC else exc.strerror or str(exc)
        )
        typer.echo(f"dvault: error: {reason}{where}", err=True)
        sys.exit(3)
    except Exception as exc:
        if type(exc).__module__.split(".")[0] != "lmdb":
            raise  # a bug: keep the traceback
        reason = str(exc)
        if "Input/output error" in reason and _disk_full(_cwd()):
            reason += " (no space left on device)"  # LMDB's word for a write cut short
        typer.echo(f"dvault: error: repository database: {reason}", err=True)
        sys.exit(3)
    except KeyboardInterrupt:
        typer.echo("dvault: interrupted", err=True)
        sys.exit(130)
