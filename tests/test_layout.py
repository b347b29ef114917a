"""The ``aiodtls`` package has no import cycle (issue 14).

The graph is built from the source with :mod:`ast`, not by importing: every ``import`` and
``from ... import`` in a module is an edge, at module level and inside functions alike (a
deferred import hides a cycle from the interpreter, not from the layering). Imports under
``if TYPE_CHECKING:`` are left out: they never run, and annotations may name a type from any
layer. A ``from package import name`` is an edge to ``package.name`` when that is a module,
otherwise to the package. Importing ``a.b.c`` also runs ``a/__init__``, but that implicit
edge is not counted: ``aiodtls/__init__`` re-exports the public API, so every module would
otherwise sit on a cycle through it.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

PACKAGE = "aiodtls"
SOURCE = Path(__file__).resolve().parent.parent / "src" / PACKAGE


def module_names(root: Path = SOURCE) -> dict[str, Path]:
    """Dotted module name -> file, for every ``.py`` file under ``root``."""
    modules: dict[str, Path] = {}
    for path in sorted(root.rglob("*.py")):
        parts = list(path.relative_to(root.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        modules[".".join(parts)] = path
    return modules


def is_type_checking(test: ast.expr) -> bool:
    """``TYPE_CHECKING`` or ``typing.TYPE_CHECKING``."""
    if isinstance(test, ast.Name):
        return test.id == "TYPE_CHECKING"
    return isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"


def runtime_imports(tree: ast.AST) -> Iterator[ast.Import | ast.ImportFrom]:
    """Every import statement in ``tree`` outside ``if TYPE_CHECKING:`` blocks."""
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.If) and is_type_checking(node.test):
            for child in node.orelse:
                yield from runtime_imports(ast.Module(body=[child], type_ignores=[]))
            continue
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node
        yield from runtime_imports(node)


def imported_modules(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """The modules of the package that module ``name`` (at ``path``) imports."""
    is_package = path.name == "__init__.py"
    edges: set[str] = set()
    for node in runtime_imports(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        else:
            if node.level:
                anchor = name.split(".")
                if not is_package:
                    anchor.pop()
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join(anchor + ([node.module] if node.module else []))
            else:
                base = node.module or ""
            targets = [
                f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base
                for alias in node.names
            ]
        for target in targets:
            # ``import a.b.c`` names a module; keep the longest prefix that is one of ours.
            while target and target not in modules:
                target = target.rpartition(".")[0]
            if target and target != name:
                edges.add(target)
    return edges


def import_graph(root: Path = SOURCE) -> dict[str, set[str]]:
    """Module -> the package modules it imports at run time."""
    modules = module_names(root)
    return {name: imported_modules(name, path, modules) for name, path in modules.items()}


def find_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan), each given as
    one cycle through it (first module repeated at the end), so a failure prints a path."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[set[str]] = []

    def visit(node: str) -> None:
        # Recursion depth is bounded by the number of modules (~100).
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for successor in sorted(graph.get(node, ())):
            if successor not in index:
                visit(successor)
                low[node] = min(low[node], low[successor])
            elif successor in on_stack:
                low[node] = min(low[node], index[successor])
        if low[node] == index[node]:
            component: set[str] = set()
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.add(member)
                if member == node:
                    break
            if len(component) > 1:
                components.append(component)

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return [cycle_through(component, graph) for component in components]


def cycle_through(component: set[str], graph: dict[str, set[str]]) -> list[str]:
    """One shortest cycle inside ``component``, starting at its smallest module name."""
    start = min(component)
    previous: dict[str, str] = {}
    frontier = [start]
    while frontier:
        following: list[str] = []
        for node in frontier:
            for successor in sorted(graph[node] & component):
                if successor == start:
                    path = [node]
                    while path[-1] != start:
                        path.append(previous[path[-1]])
                    return [start, *reversed(path[:-1]), start]
                if successor not in previous:
                    previous[successor] = node
                    following.append(successor)
        frontier = following
    raise AssertionError(f"no cycle in {sorted(component)}")  # pragma: no cover


def layers(graph: dict[str, set[str]]) -> dict[str, set[str]]:
    """``graph`` with each subpackage (``aiodtls.handshake``, ``aiodtls.record``, ...) drawn
    as one node: the layers of ARCHITECTURE.md, where no arrow may point back up."""

    def layer(module: str) -> str:
        return ".".join(module.split(".")[:2])

    collapsed: dict[str, set[str]] = {}
    for module, targets in graph.items():
        edges = collapsed.setdefault(layer(module), set())
        edges.update(layer(target) for target in targets if layer(target) != layer(module))
    return collapsed


def test_the_package_has_no_import_cycle() -> None:
    graph = import_graph()
    assert len(graph) > 50, sorted(graph)  # the source tree was found
    cycles = find_cycles(graph)
    assert cycles == [], "import cycles:\n" + "\n".join(" -> ".join(c) for c in cycles)


def test_no_import_cycle_between_layers() -> None:
    # Module by module ``configuration`` -> ``handshake.suites`` -> ``record`` was no cycle,
    # yet ``configuration`` and ``handshake`` imported each other: the layer graph sees it.
    cycles = find_cycles(layers(import_graph()))
    assert cycles == [], "layer cycles:\n" + "\n".join(" -> ".join(c) for c in cycles)


def test_configuration_and_handshake_do_not_import_each_other() -> None:
    graph = layers(import_graph())
    assert f"{PACKAGE}.handshake" not in graph[f"{PACKAGE}.configuration"]
    assert f"{PACKAGE}.configuration" in graph[f"{PACKAGE}.handshake"]
    assert f"{PACKAGE}.suites" in graph[f"{PACKAGE}.configuration"]
    assert f"{PACKAGE}.suites" in graph[f"{PACKAGE}.handshake"]


def test_the_old_suites_path_is_the_same_vocabulary() -> None:
    # docs/iot.md named aiodtls.handshake.suites before the move; code written against it runs.
    import aiodtls.handshake.suites as old
    import aiodtls.suites as new

    for name in new.__all__:
        assert getattr(old, name) is getattr(new, name), name


def test_the_cycle_finder_sees_deferred_imports_and_skips_type_checking(tmp_path: Path) -> None:
    root = tmp_path / "pkg"
    (root / "inner").mkdir(parents=True)
    (root / "__init__.py").write_text("from .a import A\n")
    (root / "a.py").write_text("def f():\n    from .inner import b\n")
    (root / "inner" / "__init__.py").write_text("")
    (root / "inner" / "b.py").write_text("from .. import a\n")
    (root / "c.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from . import a\n"
        "else:\n    import pkg.inner.b\n"
    )
    graph = import_graph(root)
    assert graph["pkg.a"] == {"pkg.inner.b"}
    assert graph["pkg.inner.b"] == {"pkg.a"}
    assert graph["pkg.c"] == {"pkg.inner.b"}
    assert find_cycles(graph) == [["pkg.a", "pkg.inner.b", "pkg.a"]]
    assert find_cycles(layers(graph)) == [["pkg.a", "pkg.inner", "pkg.a"]]


MAX_MODULE_LINES = 800


def test_no_module_is_over_800_lines() -> None:
    # Issue 14's Must show; STYLE.md: a module over ~800 lines is a sign that it holds two.
    lengths = {
        name: len(path.read_text(encoding="utf-8").splitlines())
        for name, path in module_names().items()
    }
    assert len(lengths) > 50, sorted(lengths)  # the source tree was found
    offenders = {name: n for name, n in sorted(lengths.items()) if n > MAX_MODULE_LINES}
    assert offenders == {}, f"modules over {MAX_MODULE_LINES} lines: {offenders}"


def test_the_connections_parts_sit_below_it() -> None:
    # DtlsConnection inherits its DTLS 1.2 handshake phase; the phase, the wrong-key watch and
    # the state vocabulary never import the connection (docs/design.md, seam-connection).
    graph = import_graph()
    connection = f"{PACKAGE}.connection"
    parts = [f"{PACKAGE}.handshake_phase", f"{PACKAGE}.wrong_key", f"{PACKAGE}.connection_state"]
    for part in parts:
        assert part in graph[connection], part
        assert connection not in graph[part], part


def test_the_connection_adds_no_attribute_through_its_handshake_phase() -> None:
    # CPython shares instance-dict keys only up to 30 attributes (docs/scaling.md): the mixin
    # declares the connection's attributes but must make none, on the class or per instance.
    from aiodtls.connection import DtlsConnection
    from aiodtls.handshake_phase import Dtls12HandshakePhase

    declared = set(Dtls12HandshakePhase.__annotations__)
    assert declared, "the phase declares what it uses of the connection"
    assert not declared & set(vars(Dtls12HandshakePhase)), "declarations only, no defaults"
    assert "__init__" not in vars(Dtls12HandshakePhase)
    assert issubclass(DtlsConnection, Dtls12HandshakePhase)
