"""proxy/ never imports adapters/, except its composition root, proxy/__main__.py."""

from __future__ import annotations

import ast
from pathlib import Path

PROXY = Path(__file__).resolve().parents[2] / "proxy"


def imported_modules(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_proxy_does_not_import_adapters() -> None:
    offenders = {
        str(path.relative_to(PROXY)): sorted(m for m in imported_modules(path) if m.split(".")[0] == "adapters")
        for path in PROXY.rglob("*.py") if path.name != "__main__.py" or path.parent != PROXY
    }
    assert {k: v for k, v in offenders.items() if v} == {}
    assert any(m.startswith("adapters") for m in imported_modules(PROXY / "__main__.py"))
