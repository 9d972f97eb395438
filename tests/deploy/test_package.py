"""The wheel carries the dashboard's page and script (package data), so a pip-installed proxy serves /ui."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_wheel_includes_the_dashboard_files(tmp_path: Path) -> None:
    source = tmp_path / "src"  # a copy, so the build leaves nothing in the work tree
    for name in ("pyproject.toml", "README.md"):
        (source / name).parent.mkdir(parents=True, exist_ok=True)
        (source / name).write_bytes((ROOT / name).read_bytes())
    for package in ("proxy", "adapters"):
        for path in (ROOT / package).rglob("*"):
            if path.is_file() and "__pycache__" not in path.parts:
                target = source / path.relative_to(ROOT)
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(path.read_bytes())
    result = subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
                             "--wheel-dir", str(tmp_path / "dist"), str(source)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    [wheel] = (tmp_path / "dist").glob("modelmanager-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    assert {"adapters/ui/static/dashboard.html", "adapters/ui/static/dashboard.js", "proxy/observe/status.py"} <= names
