"""The layering contract: every import in ``dvault/`` points down, and no modules import
each other in a circle.

Every import counts — at the top of a module, inside a function, or under
``TYPE_CHECKING`` — because a type-only import still ties the modules together (DVC's
``if TYPE_CHECKING: from dvc.repo import Repo`` is how a one-module-per-operation layout
keeps its cycle). The floors, bottom up, are :data:`LAYERS`; a module may import its own
floor or lower, and README's Layout section says the same in words.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "dvault"

LAYERS: list[tuple[str, tuple[str, ...]]] = [
    (
        "base",
        (
            "errors",
            "hashing",
            "chunking",
            "fsutil",
            "config",
            "textsafe",
            "memory",
            "identity",
            "pipeline",
            "names",
            "secretargs",
            "lock",
            "gitlink",
            "graphlanes",
            "lineagesvg",
            "retention",
        ),
    ),
    (
        "format",
        (
            "objects",
            "treeobjects",
            "commitobjects",
            "trees",
            "content",
            "rechunk",
            "environment",
            "envcapture",
        ),
    ),
    ("storage", ("store", "refs", "revisions", "pins", "reruns")),
    ("handle", ("repository",)),
    (
        "subsystems",
        (
            "workspace",
            "remote",
            "maintenance",
            "verify",
            "signing",
            "lineage",
            "manifest",
            "provexport",
            "openlineage",
            "review",
            "reviewaltered",
            "reviewdoc",
            "reviewrender",
            "verdict",
            "datasheet",
            "stats",
            "impact",
            "reachability",
            "attributes",
        ),
    ),
    ("operations", ("ops",)),
    ("api", ("repo", "reporemotes", "reader", "fs", "demo")),
    ("cli", ("cli", "__main__", "__init__")),
]
"""Floors, bottom up, and the top-level modules or packages on each."""

FLOOR = {name: floor for floor, (_, names) in enumerate(LAYERS) for name in names}


def module_name(path: Path) -> str:
    rel = path.relative_to(PACKAGE).with_suffix("")
    parts = rel.parts[:-1] if rel.name == "__init__" and len(rel.parts) > 1 else rel.parts
    return ".".join(parts) if parts else "__init__"


def floor_of(module: str) -> int:
    top = module.split(".")[0]
    if top not in FLOOR:
        raise AssertionError(f"dvault.{module} is on no floor: add it to LAYERS in {__file__}")
    return FLOOR[top]


def is_module(name: str) -> bool:
    path = PACKAGE.joinpath(*name.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def imported(tree: ast.Module, module: str, is_package: bool) -> set[str]:
    """The dvault modules ``module`` imports anywhere in its source."""
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                here = module.split(".") if is_package else module.split(".")[:-1]
                base = here[: len(here) - (node.level - 1)]
                prefix = ".".join(["dvault", *base, *([node.module] if node.module else [])])
            else:
                prefix = node.module or ""
            names = [prefix] + [f"{prefix}.{a.name}" for a in node.names]
        else:
            continue
        for name in names:
            if name == "dvault" or not name.startswith("dvault."):
                continue
            inner = name.removeprefix("dvault.")
            if is_module(inner):
                found.add(inner)
    found.discard(module)
    return found


def import_graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        module = module_name(path)
        tree = ast.parse(path.read_text(), str(path))
        graph[module] = imported(tree, module, path.name == "__init__.py")
    return graph


def upward_imports(graph: dict[str, set[str]]) -> list[str]:
    return [
        f"dvault.{src} ({LAYERS[floor_of(src)][0]}) imports dvault.{dst} "
        f"({LAYERS[floor_of(dst)][0]})"
        for src, targets in sorted(graph.items())
        for dst in sorted(targets)
        if floor_of(dst) > floor_of(src)
    ]


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    found: list[list[str]] = []
    counter = 0
    for start in sorted(graph):
        if start in index:
            continue
        work: list[tuple[str, list[str]]] = [(start, sorted(graph[start]))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, pending = work[-1]
            if pending:
                nxt = pending.pop()
                if nxt not in graph:
                    continue
                if nxt not in index:
                    index[nxt] = low[nxt] = counter
                    counter += 1
                    stack.append(nxt)
                    on_stack.add(nxt)
                    work.append((nxt, sorted(graph[nxt])))
                elif nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


ARCHITECTURE = PACKAGE.parent / "docs" / "architecture.md"


def diagram() -> str:
    """The floors, top first, with the modules and packages on each as they are in
    ``dvault/``: the block docs/architecture.md shows."""
    present = sorted(
        p.stem if p.is_file() else p.name + "/"
        for p in PACKAGE.iterdir()
        if (p.suffix == ".py" and p.stem not in ("__init__", "__main__"))
        or (p.is_dir() and (p / "__init__.py").is_file())
    )
    rows = []
    for name, members in reversed(LAYERS):
        here = [m for m in present if m.rstrip("/") in members]
        rows.append(f"{name:<11} {'  '.join(here)}".rstrip())
    return "\n".join(rows) + "\n"


def test_the_architecture_page_shows_the_floors_as_they_are() -> None:
    """docs/architecture.md's diagram is generated from this file's LAYERS and the modules
    that exist: a new module, or a floor changed, shows there or this fails."""
    block = "```text\n" + diagram() + "```"
    assert block in ARCHITECTURE.read_text(), f"update docs/architecture.md to:\n{block}"


def test_every_module_is_on_a_floor() -> None:
    for module in import_graph():
        floor_of(module)


def test_imports_point_down() -> None:
    problems = upward_imports(import_graph())
    assert not problems, "imports from a lower floor to a higher one:\n" + "\n".join(problems)


def test_no_import_cycles() -> None:
    found = cycles(import_graph())
    assert not found, "modules importing each other in a circle:\n" + "\n".join(
        " <-> ".join(c) for c in found
    )


@pytest.mark.parametrize(
    ("source", "extra", "kind"),
    [
        ("store.pack", "from dvault.repo import Repo\n", "up"),
        ("workspace.scan", "def f():\n    from dvault.cli import app\n", "up"),
        (
            "objects",
            "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from dvault import trees\n",
            "cycle",
        ),
    ],
)
def test_the_contract_catches_a_back_import(source: str, extra: str, kind: str) -> None:
    """The checks fail when a deliberate back-import is added (any import form counts)."""
    graph = import_graph()
    path = PACKAGE.joinpath(*source.split(".")).with_suffix(".py")
    tree = ast.parse(path.read_text() + "\n" + extra)
    graph[source] = imported(tree, source, False)
    if kind == "up":
        assert any(p.startswith(f"dvault.{source} ") for p in upward_imports(graph))
    else:
        assert any(source in c for c in cycles(graph))
