"""The packages' import graph: no cycles, and each package imports only what it may.

Every ``import`` of the repository's packages is read from the source (module level and inside
functions alike: a function-local import is still a dependency), resolved to a module of ours,
and the graph is checked. The lines between the packages (docs/architecture.md):

- ``course`` (what a learner imports in a lesson) imports nothing of ours but itself;
- ``course_tools`` (the ``course`` command, the runner, the development server) may import
  ``course``;
- ``autograder`` (grading) may import ``course`` (its environment settings).
"""

import ast
from pathlib import Path

from helpers import REPO

MAY_IMPORT = {
    "course": {"course"},
    "course_tools": {"course_tools", "course"},
    "autograder": {"autograder", "course"},
}
PACKAGES = tuple(MAY_IMPORT)


def module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def our_modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in sorted((REPO / package).rglob("*.py")):
            found[module_name(path)] = path
    return found


def resolve(name: str, modules: dict[str, Path]) -> str | None:
    """The longest module of ours that ``name`` (a dotted import target) names or lives in."""
    while name:
        if name in modules:
            return name
        name = name.rpartition(".")[0]
    return None


def imports_of(module: str, path: Path, modules: dict[str, Path]) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    targets: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                up = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*up, base] if base else up)
            for alias in node.names:
                targets.add(f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base)
    found = {resolve(t, modules) for t in targets}
    return {m for m in found if m and m != module}


def graph() -> dict[str, set[str]]:
    modules = our_modules()
    return {m: imports_of(m, p, modules) for m, p in modules.items()}


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(edges.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return out


def test_the_graph_sees_our_packages():
    edges = graph()
    assert "autograder.batch" in edges and "course.data" in edges
    assert "course.env" in edges["autograder.run"]


def test_no_import_cycles():
    found = cycles(graph())
    assert not found, f"import cycles: {found}"


def test_each_package_imports_only_what_it_may():
    wrong = {}
    for module, targets in graph().items():
        allowed = MAY_IMPORT[module.partition(".")[0]]
        bad = sorted(t for t in targets if t.partition(".")[0] not in allowed)
        if bad:
            wrong[module] = bad
    assert not wrong, f"imports across the line: {wrong}"


def test_the_cycle_finder_finds_cycles():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []
