"""bench/gpu_artifact_nodes.py, the derived-artifact measurement for GPU nodes, end to end on this
machine's CPU (CPU inductor) at a tiny size: origin, proxy, build worker, first and second nodes;
every variant's outputs agree. Needs the ``torch-compile-cache`` recipe."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from proxy.artifacts.recipe import registry

REPO = Path(__file__).resolve().parent.parent.parent


@pytest.mark.skipif("torch-compile-cache" not in registry(), reason="the built-in torch-compile-cache recipe is "
                    "not installed (proxy/artifacts/recipes)")
def test_gpu_artifact_nodes_script_runs_on_cpu(tmp_path: Path) -> None:
    out = tmp_path / "out"
    done = subprocess.run([sys.executable, "bench/gpu_artifact_nodes.py", "--device", "cpu", "--layers", "1",
                           "--width", "32", "--runs", "1", "--workdir", str(tmp_path)],
                          cwd=REPO, capture_output=True, text=True, timeout=600, check=False,
                          env={**os.environ, "OUT": str(out)})
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    table = (out / "artifact_nodes.md").read_text()
    assert "second node, stored artifact" in table
    assert "| NO |" not in table, "every variant gives the same outputs"
    rows = json.loads((out / "artifact_nodes.json").read_text())
    assert [r["what"] for r in rows].count("second node, stored artifact") == 1
    assert list(tmp_path.glob("gpu-artifact-nodes-*")) == [], "its scratch directory is gone"
