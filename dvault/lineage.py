"""Lineage: the derivation graph of a data version, and four ways to show it.

Every commit records where it came from (``meta``: the git commit and whether the work
tree was dirty, the command line, user and host; ``inputs`` it was derived from;
``sources``, the generator or pipeline files used, by content id; ``run``, the command
``dvault run`` executed; ``env``, the environment object: dvault/environment.py).
``build`` follows parents and inputs from a revision; the renderers turn the graph into
text, JSON, Graphviz dot, or one self-contained HTML page.

Everything in a commit is attacker input: ``meta`` is free-form JSON from whoever wrote the
commit. The renderers read it through :func:`_items` and friends (a value of the wrong
shape is left out, never a crash) and escape every string for their format
(dvault/textsafe.py), so a message or a meta value cannot move the cursor of the terminal
that shows it, forge a line, inject HTML or end a Graphviz string.
"""

from __future__ import annotations

import datetime
import html
from collections import deque
from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Any

from dvault import lineagesvg
from dvault.environment import Recorded, load
from dvault.errors import DvaultError
from dvault.repository import Repository
from dvault.revisions import peel
from dvault.store import erased
from dvault.store.erased import Redaction
from dvault.textsafe import dot_string, first_line, html_text, line, script_json


@dataclass
class Node:
    id: str
    message: str
    author: str
    time_ns: int
    roots: dict[str, str]
    meta: dict[str, Any]
    depth: int
    available: bool = True
    environment: Recorded | None = None  # read and checked (dvault/environment.py)
    names: list[str] = field(default_factory=list)
    """Branches and tags pointing at it, as ``log`` shows them: ``main``, ``tag: v1``."""
    redactions: list[Redaction] = field(default_factory=list)
    """``dvault redact`` runs that erased contents of this commit (store/erased.py): the
    commit id is unchanged, but some of its files no longer restore."""

    @property
    def title(self) -> str:
        """The message's first line, escaped for a terminal (textsafe.first_line)."""
        return first_line(self.message)

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "message": self.message,
            "author": self.author,
            "time": _when(self.time_ns) if self.time_ns else None,
            "roots": self.roots,
            "git": self.meta.get("git"),
            "command": self.meta.get("command"),
            "user": self.meta.get("user"),
            "host": self.meta.get("host"),
            "inputs": _items(self.meta, "inputs"),
            "sources": _items(self.meta, "sources"),
            "run": self.meta.get("run"),
            "environment": _env_json(self.environment),
            "available": self.available,
            "names": self.names,
            "depth": self.depth,
            "redactions": [
                {
                    "time": _when(r.time_ns),
                    "user": r.user,
                    "reason": r.reason,
                    "files": len(r.path_hashes),
                    "objects": len(r.objects),
                }
                for r in self.redactions
            ],
        }


@dataclass
class Edge:
    source: str  # the derived commit
    target: str  # what it came from
    kind: str  # "parent" or "input"
    label: str = ""


@dataclass
class Graph:
    root: str
    nodes: dict[str, Node] = field(default_factory=dict)
    edges: list[Edge] = field(default_factory=list)


def _when(time_ns: int) -> str:
    try:
        stamp = datetime.datetime.fromtimestamp(time_ns / 1e9, datetime.UTC)
    except (OverflowError, OSError, ValueError):  # a forged time far outside any calendar
        return f"time_ns {time_ns}"
    return stamp.strftime("%Y-%m-%d %H:%M:%S UTC")


def _env_json(env: Recorded | None) -> dict[str, Any] | None:
    """A node's environment in brief (the full record: ``dvault show --json``, review)."""
    if env is None:
        return None
    brief = {k: v for k, v in env.to_json().items() if k != "environment"}
    brief["summary"] = env.env.summary() if env.env else None
    return brief


def _items(meta: dict[str, Any], key: str) -> list[dict[str, Any]]:
    """``meta[key]`` as a list of objects (inputs, sources); anything else is left out."""
    value = meta.get(key)
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []


def _words(value: object) -> str:
    """A recorded command line (a list of arguments) as one escaped line."""
    return line(" ".join(str(a) for a in value)) if isinstance(value, list) else ""


def _hex_id(value: object) -> bytes | None:
    """A recorded commit id: 64 hex digits, else None."""
    if isinstance(value, str) and len(value) == 64:
        try:
            return bytes.fromhex(value)
        except ValueError:
            return None
    return None


def build(repo: Repository, rev: str, max_depth: int = 1000) -> Graph:
    """Commits reachable from ``rev`` through parents and recorded inputs."""
    start = repo.resolve(rev)
    graph = Graph(start.hex())
    queue: deque[tuple[bytes, int]] = deque([(start, 0)])
    altered: dict[str, list[Redaction]] = {}
    for record in erased.load(repo.dir):
        for commit_hex in record.commits:
            altered.setdefault(commit_hex, []).append(record)
    while queue:
        oid, depth = queue.popleft()
        key = oid.hex()
        if key in graph.nodes or depth > max_depth:
            continue
        try:
            commit = repo.read_commit(oid)
        except DvaultError:
            graph.nodes[key] = Node(key, "(not in the local store)", "", 0, {}, {}, depth, False)
            continue
        graph.nodes[key] = Node(
            key,
            commit.message,
            commit.author,
            commit.time_ns,
            commit.roots,
            commit.meta,
            depth,
            environment=load(repo.store.get_raw, repo.store.type_of, commit.meta),
            redactions=altered.get(key, []),
        )
        for parent in commit.parents:
            graph.edges.append(Edge(key, parent.hex(), "parent"))
            queue.append((parent, depth + 1))
        for item in _items(commit.meta, "inputs"):
            target = _hex_id(item.get("commit"))
            if target is not None:
                label = f"{item.get('path') or ''}@{item.get('rev', '')}".lstrip("@")
                graph.edges.append(Edge(key, target.hex(), "input", label))
                queue.append((target, depth + 1))
    for name, named in _names(repo, graph.nodes.keys()):
        graph.nodes[named].names.append(name)
    return graph


def _names(repo: Repository, nodes: Collection[str]) -> list[tuple[str, str]]:
    """(name, commit id) of every branch, then every tag (``tag: v1``), that names one of
    ``nodes``. A tag naming a node directly is taken as it is; any other is read and
    followed to its commit (an annotated tag); one that names no commit is left out."""
    out = [(name, oid.hex()) for name, oid in repo.refs.branches().items() if oid.hex() in nodes]
    for name, oid in repo.refs.tags().items():
        target = oid.hex()
        if target not in nodes:
            try:
                target = peel(repo, oid, name).hex()
            except DvaultError:
                continue
        if target in nodes:
            out.append((f"tag: {name}", target))
    return out


def to_json(graph: Graph) -> dict[str, Any]:
    return {
        "root": graph.root,
        "nodes": [n.to_json() for n in sorted(graph.nodes.values(), key=lambda n: n.depth)],
        "edges": [vars(e) for e in graph.edges],
    }


def _describe(node: Node) -> list[str]:
    """One line per fact recorded in ``node``, each escaped (textsafe.line)."""
    lines = []
    if node.roots:
        lines.append("roots: " + ", ".join(f"{p} ({k})" for p, k in sorted(node.roots.items())))
    git = node.meta.get("git")
    if isinstance(git, dict) and git.get("commit"):
        state = "dirty" if git.get("dirty") else "clean"
        lines.append(f"git: {str(git['commit'])[:12]} ({state})")
    for item in _items(node.meta, "inputs"):
        where = f"{item.get('path')}@" if item.get("path") else ""
        text = f"derived from: {where}{item.get('rev')} = {str(item.get('commit'))[:12]}"
        if item.get("clean") is False:  # run --allow-dirty: the work tree held something else
            text += " (NOT what the work tree held: run with --allow-dirty)"
        lines.append(text)
    for item in _items(node.meta, "sources"):
        lines.append(f"source: {item.get('path')} (content {str(item.get('id'))[:12]})")
    run = node.meta.get("run")
    if isinstance(run, dict):
        lines.append("ran: " + _words(run.get("command")))
    elif node.meta.get("command"):
        lines.append("command: " + _words(node.meta["command"]))
    env = node.environment
    if env is not None and env.env is not None:
        lines.append("environment: " + env.env.summary())
    elif env is not None and env.problem:
        lines.append("environment: refused: " + env.problem)
    who = " on ".join(str(x) for x in (node.meta.get("user"), node.meta.get("host")) if x)
    if who:
        lines.append(f"by: {who}")
    for record in node.redactions:  # detail() is escaped already
        lines.append(f"altered by a redaction: {record.detail()} ({len(record.path_hashes)} files)")
    return [line(text) for text in lines]


def _names_text(node: Node) -> str:
    """`` (main, tag: v1)`` for a node with names, else empty; escaped."""
    return f" ({line(', '.join(node.names))})" if node.names else ""


def to_text(graph: Graph) -> str:
    out = []
    for node in sorted(graph.nodes.values(), key=lambda n: (n.depth, -n.time_ns)):
        when = f"  ({line(node.author)}, {_when(node.time_ns)})" if node.time_ns else ""
        pad = "  " * min(node.depth, 8)
        out.append(f"{pad}{node.id[:12]}{_names_text(node)}  {node.title}{when}")
        for fact in _describe(node):
            out.append(f"{pad}    {fact}")
    return "\n".join(out)


def to_dot(graph: Graph) -> str:
    """Graphviz: a box per version (id, title, names), parent edges grey and dashed, input
    edges blue and solid, so ``dot -Tsvg`` draws them apart as the HTML page does."""
    lines = ["digraph lineage {", "  rankdir=BT;", '  node [shape=box, fontname="monospace"];']
    for node in graph.nodes.values():
        # label lines: the dot escape \n joins strings each escaped on its own
        parts = [node.id[:12], node.title, *([", ".join(node.names)] if node.names else [])]
        label = '"' + "\\n".join(dot_string(p)[1:-1] for p in parts) + '"'
        style = "" if node.available else ", style=dashed"
        lines.append(f"  {dot_string(node.id)} [label={label}{style}];")
    for edge in graph.edges:
        attrs = (
            'style=dashed, color=gray45, label="parent"'
            if edge.kind == "parent"
            else f"color=blue, penwidth=2, label={dot_string(edge.label)}"
        )
        lines.append(f"  {dot_string(edge.source)} -> {dot_string(edge.target)} [{attrs}];")
    lines.append("}")
    return "\n".join(lines)


def drawing(graph: Graph) -> str:
    """The graph as inline SVG (dvault/lineagesvg.py)."""
    boxes = [
        lineagesvg.Box(n.id, n.title, tuple(n.names), n.depth, n.available, bool(n.redactions))
        for n in graph.nodes.values()
    ]
    links = [lineagesvg.Link(e.source, e.target, e.kind, e.label) for e in graph.edges]
    return lineagesvg.svg(boxes, links)


PAGE_CSS = """\
body{font-family:system-ui,sans-serif;margin:2em;color:#1f2328;background:#fff;max-width:75em}
h1{font-size:1.5em}h2{font-size:1.05em;margin:.2em 0}
.card{border:1px solid #d0d7de;border-radius:6px;padding:.5em 1em;margin:.8em 0}
code{background:#f0f0f0;padding:0 .3em;border-radius:3px}
.names{color:#8250df;font-weight:bold}.graph{overflow-x:auto}
@media print{body{margin:0;max-width:none}.card{break-inside:avoid}.graph{overflow:visible}}
"""
"""The lineage page's style: light on any screen and on paper (no dark backgrounds)."""


def to_html(graph: Graph, title: str = "dvault lineage") -> str:
    """One self-contained page: an inline SVG of the graph (no script, nothing fetched)
    and a card per version."""
    cards = []
    for node in sorted(graph.nodes.values(), key=lambda n: n.depth):
        items = "".join(f"<li>{html.escape(fact)}</li>" for fact in _describe(node))
        when = html.escape(_when(node.time_ns)) if node.time_ns else ""
        names = (
            f' <span class="names">{html_text(", ".join(node.names))}</span>' if node.names else ""
        )
        cards.append(
            f'<section class="card"><h2><code>{html_text(node.id[:12])}</code>{names} '
            f"{html.escape(node.title)}</h2><p>{html_text(node.author)} {when}</p>"
            f"<ul>{items}</ul></section>"
        )
    data = script_json(to_json(graph))
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{html_text(title)}</title>
<style>{PAGE_CSS}</style></head>
<body><h1>{html_text(title)}</h1>
<div class="graph">{drawing(graph)}</div>
<p>Blue solid arrows: derived from (inputs). Grey dashed arrows: previous version (parent).
Purple: branch and tag names.</p>
{"".join(cards)}
<script type="application/json" id="lineage-data">{data}</script>
</body></html>
"""
