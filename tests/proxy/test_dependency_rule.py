"""The dependency rules, checked on the source:

- ``proxy/`` never imports ``adapters/``, except its composition root, ``proxy/__main__.py``;
- adapters import only the core's facade, its ports and value types (``ADAPTER_MAY_IMPORT``);
- ``proxy/`` has no import cycles (imports under ``if TYPE_CHECKING:`` are for annotations only
  and never run, so they are not counted).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PROXY = ROOT / "proxy"
ADAPTERS = ROOT / "adapters"

ADAPTER_MAY_IMPORT = frozenset({
    "proxy.read.core",  # the facade: Core, ReadPolicy, Cached, Prefetched, Upload
    "proxy.upstream",  # the ports: Source, Fetched, FetchRequest, ObjectMeta, Frontend
    "proxy.objectstore",  # the port of non-S3 object stores the S3 API fronts: ObjectStore, ObjectPage
    "proxy.errors",  # domain errors and outcomes, rendered by each adapter's error table
    "proxy.digest",  # Checksum
    "proxy.read.ranges",  # ByteRange, ContentRange: the one parser of Range and Content-Range
    "proxy.singleflight",  # one helper for coalescing upstream metadata calls
    "proxy.memo",  # one bounded memo for every in-memory cache of answers
    "proxy.tasks",  # OwnedTasks: background work owned, logged and cancelled on close
    "proxy.control.catalog",  # the Catalog port: Snapshot, SnapshotFile
    "proxy.control.urls",  # the ModelUrl port and UrlGrammar each adapter registers
    "proxy.observe.logs",  # the access log of S3's dedicated site
    "proxy.tokens",  # RefreshingToken: cloud credentials refreshed in a thread before expiry
    "proxy.answers",  # small upstream answers read whole, and non-success answers as domain errors
})


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _nodes(tree: ast.AST, runtime_only: bool) -> Iterator[ast.AST]:
    for child in ast.iter_child_nodes(tree):
        if runtime_only and isinstance(child, ast.If) and _is_type_checking(child):
            yield from (n for stmt in child.orelse for n in _nodes(stmt, runtime_only))
            continue
        yield child
        yield from _nodes(child, runtime_only)


def imported_modules(path: Path, runtime_only: bool = False) -> set[str]:
    """Every module ``path`` imports: ``from a.b import c`` gives ``a.b`` and ``a.b.c``."""
    names: set[str] = set()
    for node in _nodes(ast.parse(path.read_text(), str(path)), runtime_only):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            assert node.level == 0, f"{path}: relative import"
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def test_proxy_does_not_import_adapters() -> None:
    offenders = {
        str(path.relative_to(PROXY)): sorted(m for m in imported_modules(path) if m.split(".")[0] == "adapters")
        for path in PROXY.rglob("*.py") if path.name != "__main__.py" or path.parent != PROXY
    }
    assert {k: v for k, v in offenders.items() if v} == {}
    assert any(m.startswith("adapters") for m in imported_modules(PROXY / "__main__.py"))


def _allowed(module: str) -> bool:
    """``proxy.read.core`` and what is imported from it (``proxy.read.core.Core``) are allowed."""
    return module == "proxy" or any(module == m or module.startswith(m + ".") for m in ADAPTER_MAY_IMPORT)


def test_adapters_import_only_the_facade_and_ports() -> None:
    modules = {module_name(p) for p in PROXY.rglob("*.py")}
    offenders = {
        str(path.relative_to(ROOT)): sorted(m for m in imported_modules(path)
                                             if m.split(".")[0] == "proxy" and not _allowed(m) and m in modules)
        for path in ADAPTERS.rglob("*.py")
    }
    assert {k: v for k, v in offenders.items() if v} == {}
    assert all(m in modules for m in ADAPTER_MAY_IMPORT), "the allow-list names modules that exist"


def _graph() -> dict[str, set[str]]:
    paths = {module_name(p): p for p in PROXY.rglob("*.py")}
    return {name: {m for m in imported_modules(path, runtime_only=True) if m in paths and m != name}
            for name, path in paths.items()}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in sorted(graph[node]):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while (top := stack.pop()) != node:
                component.append(top)
            component.append(node)
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_cycle_finder_finds_a_cycle() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_proxy_has_no_import_cycles() -> None:
    assert cycles(_graph()) == []
