"""No import cycles among lambda_gui's modules. Read with ast, so an import under
`if TYPE_CHECKING:` or inside a function counts too: a cycle hidden that way still ties the
modules together and returns as a runtime cycle with the next edit."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "lambda_gui"

# Cycles someone is breaking right now, each as its modules in sorted order. Empty it as
# they go: the test fails on any cycle not listed here, and on a listed one that is gone.
KNOWN_CYCLES: set[tuple[str, ...]] = set()


def module_name(path: Path) -> str:
    """The dotted module name of a source file under the package."""
    rel = path.relative_to(PACKAGE.parent).with_suffix("")
    parts = rel.parts[:-1] if rel.name == "__init__" else rel.parts
    return ".".join(parts)


def package_modules() -> dict[str, Path]:
    """Every importable module of the package, by name (bundle_files run on the instance)."""
    return {
        module_name(path): path
        for path in sorted(PACKAGE.rglob("*.py"))
        if "bundle_files" not in path.relative_to(PACKAGE).parts
    }


def _resolve(name: str, modules: dict[str, Path]) -> str | None:
    """The package module that `name` (a module or a name inside one) lives in."""
    while name:
        if name in modules:
            return name
        name = name.rpartition(".")[0]
    return None


def imported_modules(module: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """The package modules one module imports, wherever the import statement stands."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    is_package = path.name == "__init__.py"
    found: set[str] = set()
    for node in ast.walk(tree):
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = module.split(".")
                anchor = anchor[: len(anchor) - node.level + (1 if is_package else 0)]
                base = ".".join(anchor + ([base] if base else []))
            # `from pkg import name` imports the submodule pkg.name when there is one.
            targets = [f"{base}.{alias.name}" for alias in node.names] or [base]
        for target in targets:
            resolved = _resolve(target, modules)
            if resolved is not None and resolved != module:
                found.add(resolved)
    return found


def import_graph() -> dict[str, set[str]]:
    """Module -> the package modules it imports."""
    modules = package_modules()
    return {name: imported_modules(name, path, modules) for name, path in modules.items()}


def strongly_connected(graph: dict[str, set[str]]) -> list[list[str]]:
    """The graph's strongly connected components of two or more modules (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component: list[str] = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def one_cycle(graph: dict[str, set[str]], component: list[str]) -> list[str]:
    """A concrete cycle through the component's first module, as a -> b -> ... -> a."""
    members = set(component)
    start = component[0]
    paths: dict[str, list[str]] = {start: [start]}
    queue = [start]
    while queue:
        node = queue.pop(0)
        for nxt in sorted(graph[node] & members):
            if nxt == start:
                return [*paths[node], start]
            if nxt not in paths:
                paths[nxt] = [*paths[node], nxt]
                queue.append(nxt)
    raise AssertionError(f"no cycle through {start}")  # a component always has one


def describe(graph: dict[str, set[str]], components: list[list[str]]) -> str:
    """Each component and one cycle in it, for the failure message."""
    return "\n".join(f"{', '.join(c)}:\n    {' -> '.join(one_cycle(graph, c))}" for c in components)


def test_the_graph_sees_every_kind_of_import() -> None:
    graph = import_graph()
    assert len(graph) > 50
    # A module-level, a TYPE_CHECKING and a function-level import, each found.
    assert "lambda_gui.core.models" in graph["lambda_gui"]
    assert "lambda_gui.services.connector" in graph["lambda_gui"]
    assert "lambda_gui.remote.ssh_session" in graph["lambda_gui.remote.transfer"]


def test_the_finder_reports_a_cycle() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    components = strongly_connected(graph)
    assert components == [["a", "b", "c"]]
    assert one_cycle(graph, components[0]) == ["a", "b", "c", "a"]


def test_no_import_cycles() -> None:
    graph = import_graph()
    components = strongly_connected(graph)
    unknown = [c for c in components if tuple(c) not in KNOWN_CYCLES]
    assert not unknown, "import cycles:\n" + describe(graph, unknown)


def test_known_cycles_are_still_there() -> None:
    # An entry left behind would let its cycle come back unnoticed.
    gone = KNOWN_CYCLES - {tuple(c) for c in strongly_connected(import_graph())}
    assert not gone, f"these cycles are broken now: remove them from KNOWN_CYCLES: {gone}"
