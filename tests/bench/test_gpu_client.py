"""bench/gpu_client.py, the script run on GPU nodes, end to end on this machine's CPU at a tiny
size: it starts its origin and proxy, and every variant loads the same tensors as load_file."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent.parent


def test_gpu_client_script_runs_on_cpu(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, str(REPO / "bench" / "gpu_client.py"), "--size-mib", "16", "--device", "cpu",
         "--runs", "1", "--connections", "1,2", "--workdir", str(tmp_path)],
        env={"PATH": "/usr/bin:/bin", "OUT": str(tmp_path / "out"), "HOME": str(tmp_path)},
        capture_output=True, text=True, timeout=120, check=False, cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    report = (tmp_path / "out" / "gpu_client.md").read_text()
    rows = [line for line in report.splitlines() if line.startswith("| load_safetensors")]
    assert len(rows) == 4  # local file, HTTP x 2 connection counts, path hand-off
    assert all("| yes |" in row for row in rows)
    assert "path hand-off" in report
    assert list(tmp_path.glob("gpu-client-*")) == []  # its scratch directory is gone
