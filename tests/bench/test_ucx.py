"""The UCX comparison (``bench/gpu_ucx.py``, host-memory half; the ``ucx`` scenario runs the same
variants) at a tiny size: every variant runs and lands the blob byte-exact."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.ucx_sidecar.process import needs_nixl, needs_ucxx

REPO = Path(__file__).resolve().parent.parent.parent


@needs_ucxx
@needs_nixl
def test_gpu_ucx_script_compares_every_transport_byte_exact(tmp_path: Path) -> None:
    out = tmp_path / "out"
    done = subprocess.run(
        [sys.executable, "bench/gpu_ucx.py", "--size-mib", "64", "--device", "cpu", "--runs", "1",
         "--workdir", str(tmp_path)],
        cwd=REPO, capture_output=True, text=True, timeout=280, check=False, env={**os.environ, "OUT": str(out)},
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    rows = json.loads((out / "gpu_ucx.json").read_text())
    assert {r["variant"].split(",")[0].split(":")[0] for r in rows} == {
        "path hand-off", "HTTP from the warm proxy", "sidecar ucxx", "sidecar NIXL WRITE"}
    assert all(r["byte_exact"] and len(r["seconds"]) == 1 and r["bytes"] == 64 << 20 for r in rows)
    assert "| sidecar ucxx, UCX_TLS=sm,self" in (out / "gpu_ucx.md").read_text()
