"""The benchmark harness end to end at its smallest size (``--smoke``): it runs, cleans up, reports.

The numbers of a smoke run mean nothing; what is checked is that the scenarios produce their rows
and that the generated section of a results file is written between its markers.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from bench.report import BEGIN, END

REPO = Path(__file__).resolve().parent.parent.parent


def test_smoke_run_writes_the_rows(tmp_path: Path) -> None:
    output = tmp_path / "benchmarks.md"
    output.write_text("# Benchmarks\n\nkept\n\n" + BEGIN + "\nPREVIOUS RUN\n" + END + "\n\n## Findings\n\nkept too\n")
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench",
            "--smoke",
            "--no-install",
            "--only",
            "herd",
            "--only",
            "cluster-herd",
            "--output",
            str(output),
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    text = output.read_text()
    assert text.startswith("# Benchmarks\n\nkept\n\n")
    assert text.endswith("## Findings\n\nkept too\n")
    section = text[text.index(BEGIN) : text.index(END)]
    assert "PREVIOUS RUN" not in section
    rows = [line for line in section.splitlines() if line.startswith("| ")]
    herd = [r for r in rows if r.startswith("| herd ")]
    assert any("proxy" in r and "upstream GETs 1, upstream bytes 1.00 x file; byte-exact 8/8" in r for r in herd)
    assert any(r.startswith("| herd-rss") and "peak RSS" in r for r in rows)
    assert any("nginx" in r for r in herd)  # measured, or skipped with the reason
    assert any(r.startswith("| cluster-herd") for r in rows)  # measured, or "skipped: cluster mode unavailable"
    assert "FAILED" not in section
    assert "--smoke" in section
    assert "Machine:" in section


def test_smoke_run_sweeps_workers_with_clients_in_several_processes(tmp_path: Path) -> None:
    output = tmp_path / "benchmarks.md"
    done = subprocess.run(
        [sys.executable, "-m", "bench", "--smoke", "--no-install", "--only", "herd", "--workers", "2",
         "--client-procs", "2", "--output", str(output)],
        cwd=REPO, capture_output=True, text=True, timeout=120, check=False,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    rows = [line for line in output.read_text().splitlines() if line.startswith("| herd")]
    assert any("proxy --workers 2" in r and "upstream GETs 1, upstream bytes 1.00 x file; byte-exact 8/8" in r
               for r in rows)
    assert any(r.startswith("| herd-rss") and "proxy --workers 2" in r and "per process" in r for r in rows)


def test_gpu_workers_script_runs_at_a_tiny_size(tmp_path: Path) -> None:
    out = tmp_path / "out"
    done = subprocess.run(
        [sys.executable, "bench/gpu_workers.py", "--size", "2MiB", "--clients", "4", "--client-procs", "2",
         "--workers", "2", "--herd-workers", "2", "--rate", "8e6", "--workdir", str(tmp_path)],
        cwd=REPO, capture_output=True, text=True, timeout=180, check=False,
        env={**os.environ, "OUT": str(out)},
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    table = (out / "workers.md").read_text()
    assert "warm fan-out, proxy --workers 2" in table
    assert "bare aiohttp FileResponse" in table
    rows = json.loads((out / "workers.json").read_text())
    herd = next(r for r in rows if r["what"] == "herd, proxy --workers 2")
    assert herd["upstream_gets"] == 1
    assert herd["exact"] == "4/4"
    assert herd["workers_that_served"] >= 1


def test_gpu_fill_script_runs_at_a_small_size(tmp_path: Path) -> None:
    out = tmp_path / "out"
    done = subprocess.run(
        [sys.executable, "bench/gpu_fill.py", "--size", "40MiB", "--throttled-size", "40MiB", "--rate", "40e6",
         "--workdir", str(tmp_path)],
        cwd=REPO, capture_output=True, text=True, timeout=180, check=False,
        env={**os.environ, "OUT": str(out)},
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "8 connections vs 1" in (out / "fill.md").read_text()
    rows = json.loads((out / "fill.json").read_text())
    fills = [r for r in rows if "blob_ok" in r]
    assert len(fills) == 4
    assert all(r["blob_ok"] for r in fills)  # each committed blob is named by the file's blake3
    assert [r["upstream_gets"] for r in fills if r["what"].endswith("connections 1")] == [1, 1]
    assert all(r["upstream_gets"] >= 3 for r in fills if r["what"].endswith("connections 8"))  # segmented
