"""One ``snapshot_download`` by the real huggingface_hub, timed: ``python -m bench.hf_client REPO OUT``.

Run as a subprocess with its own ``HF_ENDPOINT`` (the proxy, olah, or the Hub emulator) and an
empty ``HF_HOME``; prints ``{"seconds": s, "files": n, "bytes": n}`` (the import is not timed).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True, slots=True)
class Snapshot:
    seconds: float
    files: int
    bytes: int


def snapshot(endpoint: str, repo_id: str, out: Path, workdir: Path) -> Snapshot:
    """Download ``repo_id`` from ``endpoint`` into ``out`` in a fresh interpreter with an empty HF_HOME."""
    with tempfile.TemporaryDirectory(prefix="hf-home-", dir=workdir) as home:
        env = {
            **os.environ,
            "HF_ENDPOINT": endpoint,
            "HF_HOME": home,
            "HF_HUB_DISABLE_PROGRESS_BARS": "1",
            "HF_HUB_DISABLE_TELEMETRY": "1",
            "HF_HUB_DISABLE_XET": "1",
        }
        env.pop("HF_TOKEN", None)
        done = subprocess.run(
            [sys.executable, "-m", "bench.hf_client", repo_id, str(out)],
            env=env,
            capture_output=True,
            text=True,
            check=False,
            timeout=900,
            cwd=Path(__file__).parent.parent,
        )
    if done.returncode != 0:
        raise RuntimeError(f"snapshot_download from {endpoint} failed: {done.stderr.strip()[-500:]}")
    raw = json.loads(done.stdout.strip().splitlines()[-1])
    return Snapshot(float(raw["seconds"]), int(raw["files"]), int(raw["bytes"]))


def main(argv: list[str] | None = None) -> None:
    repo_id, out = (argv or sys.argv[1:])[:2]
    from huggingface_hub import snapshot_download

    started = time.perf_counter()
    snapshot_download(repo_id, local_dir=out)
    seconds = time.perf_counter() - started
    files = [p for p in Path(out).rglob("*") if p.is_file() and ".cache" not in p.relative_to(out).parts]
    print(json.dumps({"seconds": seconds, "files": len(files), "bytes": sum(p.stat().st_size for p in files)}))


if __name__ == "__main__":
    main()
