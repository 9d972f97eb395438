"""Time to a compiled model on a second node, with and without the cluster's ``torch-compile-cache``
artifact: the derived-artifact measurement for a GPU node (``torch.compile`` with CUDA; ``--device
cpu`` runs the same on CPU inductor anywhere).

Self-contained: starts a local origin (``bench.upstream``), the proxy and one
``modelmanager build-worker`` from this checkout, writes the weights of ``bench.torch_model``
(``--layers`` blocks of ``--width``), asks for the artifact once (the first node: it waits for the
worker's build), then runs ``--runs`` pairs of fresh "second node" processes with empty compiler
caches (``bench/torch_node.py``): one compiles from scratch, one loads the stored artifact first.
Prints a markdown table and writes it (and the raw numbers) to ``$OUT`` when set. Needs torch (with
CUDA for ``cuda``), the proxy's dependencies (see ``bench/gpu_client.py``) and the
``torch-compile-cache`` recipe (``proxy/artifacts/recipes``). No network.

    PYTHONPATH=/path/to/wheels python3 bench/gpu_artifact_nodes.py                # cuda, 24 x 1024
    python3 bench/gpu_artifact_nodes.py --device cpu --layers 2 --width 64 --runs 1 # a check anywhere

``bench/gpu_artifacts.py`` times the recipes themselves (cold, mega-cache, cache-dir, local cache);
this script times the whole path a node takes: the proxy, the build worker and ``get_artifact``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
# run as a script, bench/ is first on the path, and bench/profile.py would hide the standard library's
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != REPO / "bench"]
for entry in (str(REPO / "client"), str(REPO)):
    if entry not in sys.path:
        sys.path.insert(0, entry)
os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), str(REPO / "client"),
                                                       os.environ.get("PYTHONPATH", "")) if p)
os.environ["MODELMANAGER_RECIPE_TORCH_MODULES"] = "bench.torch_model"  # the worker may run this entry point

from bench.process import ChildProcess  # noqa: E402
from bench.proxy_proc import ADMIN_TOKEN, ProxyOptions, ProxyProcess  # noqa: E402
from bench.torch_model import LAYERS_ENV, WIDTH_ENV, write_state  # noqa: E402
from bench.upstream import Upstream  # noqa: E402

ENTRY = "bench.torch_model:build"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="bench/gpu_artifact_nodes.py", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cuda", choices=["cuda", "cpu"])
    parser.add_argument("--layers", type=int, default=24)
    parser.add_argument("--width", type=int, default=1024)
    parser.add_argument("--mode", default="default", help="torch.compile mode (default, max-autotune...)")
    parser.add_argument("--runs", type=int, default=2, help="pairs of second nodes, best reported (default 2)")
    parser.add_argument("--workdir", type=Path, default=None, help="scratch directory (default: a temp dir)")
    return parser


def _node(mode: str, proxy: str, source: str, options: dict[str, Any], workdir: Path) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix=f"node-{mode}-", dir=workdir) as dest:
        done = subprocess.run([sys.executable, "-m", "bench.torch_node", mode, "--proxy", proxy,
                               "--token", ADMIN_TOKEN, "--source", source, "--options", json.dumps(options),
                               "--dest", dest], capture_output=True, text=True, check=False, timeout=3600, cwd=REPO)
    if done.returncode != 0:
        raise RuntimeError(f"second node ({mode}) failed: {done.stderr.strip()[-1500:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def _wait_ready(worker: ChildProcess, within: float = 120.0) -> None:
    deadline = time.monotonic() + within
    while b"build worker ready" not in worker.log.read_bytes():
        if not worker.alive() or time.monotonic() > deadline:
            raise RuntimeError(f"the build worker did not start: {worker.log.read_text()[-1500:]}")
        time.sleep(0.2)


def _close(a: list[float], b: list[float]) -> bool:
    return len(a) == len(b) and all(abs(x - y) <= 1e-2 * max(1.0, abs(y)) for x, y in zip(a, b, strict=True))


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    os.environ[LAYERS_ENV], os.environ[WIDTH_ENV] = str(args.layers), str(args.width)
    workdir = Path(tempfile.mkdtemp(prefix="gpu-artifact-nodes-", dir=args.workdir))
    package = "mega-cache" if args.device == "cuda" else "cache-dir"  # CPU kernels are not in the mega-cache
    options = {"entry": ENTRY, "device": args.device, "mode": args.mode, "package": package}
    rows: list[dict[str, Any]] = []
    try:
        files = workdir / "files"
        files.mkdir()
        write_state(files / "model.pt", args.layers, args.width)
        upstream = Upstream(files, workdir)
        try:
            with ProxyProcess(workdir, ProxyOptions(), "proxy") as proxy:
                worker = ChildProcess("build-worker", [sys.executable, "-m", "proxy", "build-worker", "--proxy",
                                                       proxy.base, "--admin-token", ADMIN_TOKEN, "--workdir",
                                                       str(workdir / "worker")], workdir / "worker.log", cwd=REPO)
                try:
                    _wait_ready(worker)
                    source = upstream.url("model.pt")
                    first = _node("artifact", proxy.base, source, options, workdir)
                    rows.append({"what": "first node: waits for the worker's build, then loads it", **first})
                    for _ in range(args.runs):
                        rows.append({"what": "second node, no artifact: compiles", **_node(
                            "compile", proxy.base, source, options, workdir)})
                        rows.append({"what": "second node, stored artifact", **_node(
                            "artifact", proxy.base, source, options, workdir)})
                finally:
                    worker.stop()
        finally:
            upstream.stop()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    reference = rows[1]["output"]
    best = {what: min(r["seconds"] for r in rows if r["what"] == what) for what in {r["what"] for r in rows}}
    compile_best = best["second node, no artifact: compiles"]
    lines = [f"torch-compile-cache, {args.layers} blocks x {args.width}, device {args.device}, mode {args.mode}, "
             f"package {package}; {platform.node()}, {os.cpu_count()} cores",
             "", "| what | best time to first answer | against compiling | outputs agree |", "|---|---|---|---|"]
    for what, seconds in sorted(best.items(), key=lambda kv: kv[0]):
        agree = all(_close(r["output"], reference) for r in rows if r["what"] == what)
        lines.append(f"| {what} | {seconds:.2f} s | {compile_best / seconds:.2f} x | {'yes' if agree else 'NO'} |")
    text = "\n".join(lines)
    print(text)
    if out := os.environ.get("OUT"):
        Path(out).mkdir(parents=True, exist_ok=True)
        (Path(out) / "artifact_nodes.md").write_text(text + "\n")
        (Path(out) / "artifact_nodes.json").write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
