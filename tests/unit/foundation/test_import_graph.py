"""The package's modules import each other without a cycle.

The graph is built from the source with ``ast``: every ``import`` and ``from … import``
anywhere in a module (top level, inside functions, under ``TYPE_CHECKING``) is an edge to
the module it names inside ``ml_prediction_service``. ``from pkg import name`` points at
``pkg.name`` when that is a module, else at ``pkg``.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[3] / "src" / "ml_prediction_service"
NAME = PACKAGE.name


def _modules() -> dict[str, Path]:
    modules = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        modules[".".join(parts)] = path
    return modules


def _imported(module: str, path: Path, modules: dict[str, Path]) -> set[str]:
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    names: list[str] = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                source = ".".join([*base, *([node.module] if node.module else [])])
            else:
                source = node.module or ""
            for alias in node.names:
                full = f"{source}.{alias.name}"
                names.append(full if full in modules else source)
    targets = set()
    for name in names:
        while name and name not in modules:  # `import a.b.func`-style names: nearest module
            name = name.rpartition(".")[0]
        if name and name != module:
            targets.add(name)
    return targets


def import_graph() -> dict[str, set[str]]:
    modules = _modules()
    return {module: _imported(module, path, modules) for module, path in modules.items()}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
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


def test_the_graph_sees_imports_at_every_level() -> None:
    graph = import_graph()
    assert f"{NAME}.cli.main" in graph[f"{NAME}.cli"]  # package __init__ re-export
    assert f"{NAME}.cli.stand_ins" in graph[f"{NAME}.cli.main"]  # from pkg import module
    assert f"{NAME}.api.app" in graph[f"{NAME}.cli.service"]  # inside a function


def test_cycle_detection_finds_a_cycle() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_no_import_cycle() -> None:
    graph = import_graph()
    found = cycles(graph)
    detail = [
        " / ".join(f"{m} -> {sorted(graph[m] & set(component))}" for m in component)
        for component in found
    ]
    assert not found, "import cycles: " + "; ".join(detail)


def test_only_the_command_line_imports_cli() -> None:
    importers = sorted(
        module
        for module, targets in import_graph().items()
        if any(t == f"{NAME}.cli" or t.startswith(f"{NAME}.cli.") for t in targets)
        and not (module == f"{NAME}.cli" or module.startswith(f"{NAME}.cli."))
    )
    assert importers == [f"{NAME}.__main__"]
