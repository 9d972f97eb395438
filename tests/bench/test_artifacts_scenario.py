"""The ``artifacts`` bench scenario end to end at its smoke size: a real proxy, build worker and two
kinds of "second node" processes; it reports both, and their outputs agree."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent.parent


def test_smoke_run_of_the_artifacts_scenario(tmp_path: Path) -> None:
    output = tmp_path / "benchmarks.md"
    done = subprocess.run([sys.executable, "-m", "bench", "--smoke", "--no-install", "--only", "artifacts",
                           "--retries", "0", "--output", str(output)],
                          cwd=REPO, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    rows = [[cell.strip() for cell in line.split("|")[1:-1]] for line in output.read_text().splitlines()
            if line.startswith("| artifacts")]
    assert len(rows) == 3, rows
    assert any("second node, stored artifact" in r[1] and "outputs agree" in r[4] for r in rows)
    assert any("second node, no artifact" in r[1] and r[3] == "reference" for r in rows)
