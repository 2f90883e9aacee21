"""``dvault datasheet show|check|init`` and ``dvault stats``: the documentation and the
statistics of the tracked roots, for a review or an audit (docs/lineage.md)."""

from __future__ import annotations

import os
from pathlib import Path

from dvault import datasheet
from dvault.datasheet import Datasheet
from dvault.errors import PathNotFound
from dvault.repository import Repository
from dvault.stats import Stats, compute


def _root_of(repo: Repository, path: str | Path, roots: dict[str, str], at: str) -> str:
    rel = os.fsdecode(repo.relpath(path))
    if rel not in roots:
        raise PathNotFound(f"{rel or '.'} is not a tracked root {at}")
    return rel


def datasheets(
    repo: Repository, root: str | Path | None = None, rev: str | None = None
) -> list[Datasheet]:
    """The datasheet of ``root`` (every tracked root when None): as committed in ``rev``,
    or in the work tree when ``rev`` is None. A root without one is ``found=False``."""
    if rev is None:
        roots = repo.roots()
        names = (
            [_root_of(repo, root, roots, "in the work tree")] if root is not None else sorted(roots)
        )
        return [datasheet.read_work(repo, name) for name in names]
    commit_id = repo.resolve(rev)
    roots = repo.read_commit(commit_id).roots
    names = [_root_of(repo, root, roots, f"at {rev}")] if root is not None else sorted(roots)
    return [datasheet.read_committed(repo, commit_id, name, rev) for name in names]


def init_datasheet(repo: Repository, root: str | Path) -> Path:
    """Write the template datasheet (every field commented) into tracked root ``root``."""
    name = _root_of(repo, root, repo.roots(), "in the work tree")
    return datasheet.write_template(repo, name)


def stats(repo: Repository, rev: str = "HEAD", since: str | None = None, depth: int = 1) -> Stats:
    """Files and bytes per root and per folder ``depth`` levels down of ``rev``, changes
    from ``since``, and label histograms of small label files."""
    return compute(repo, rev, since, depth=depth)
