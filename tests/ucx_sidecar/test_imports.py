"""The sidecar stays optional: nothing in the proxy, its adapters or the client imports it, and it
imports only the proxy's storage and value types (never the serving app or an adapter)."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ALLOWED_PROXY = {"proxy.digest", "proxy.errors", "proxy.storage.index", "proxy.storage.layout"}


def imports(folder: Path) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for path in folder.rglob("*.py"):
        names: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module:
                names.add(node.module)
        found[str(path.relative_to(ROOT))] = names
    return found


def test_nothing_outside_imports_the_sidecar() -> None:
    for folder in ("proxy", "adapters", "client"):
        for path, names in imports(ROOT / folder).items():
            assert not {n for n in names if n.split(".")[0] == "ucx_sidecar"}, path


def test_the_sidecar_reads_the_volume_through_the_proxy_storage_modules_only() -> None:
    used = {n for names in imports(ROOT / "ucx_sidecar").values() for n in names if n.split(".")[0] == "proxy"}
    assert used == ALLOWED_PROXY
    assert not {n for names in imports(ROOT / "ucx_sidecar").values() for n in names if n.startswith("adapters")}
