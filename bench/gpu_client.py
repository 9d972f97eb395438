"""``load_safetensors(device="cuda")`` on a GPU node: over HTTP from a warm proxy (1 / 8 / 16
connections) and by path hand-off, vs ``safetensors.torch.load_file(device="cuda")`` of a local copy.

Self-contained: starts a local origin (``bench.upstream``) and the proxy from this checkout
(``python3 -m proxy serve``), writes an ~8 GiB safetensors file, warms the proxy with one GET, then
measures. Prints a markdown table and writes it (and the raw numbers) to ``$OUT`` when set.
Needs torch with CUDA, aiohttp, safetensors, and the proxy's own dependencies (blake3, pydantic,
pydantic-settings, redis: put their wheels' directory on ``PYTHONPATH``). No network.

    PYTHONPATH=/path/to/wheels python3 bench/gpu_client.py                      # 8 GiB, cuda
    python3 bench/gpu_client.py --size-mib 64 --device cpu --runs 1             # a check anywhere
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
from urllib.parse import quote

REPO = Path(__file__).resolve().parent.parent
for entry in (str(REPO / "client"), str(REPO)):
    if entry not in sys.path:
        sys.path.insert(0, entry)
# The proxy and the origin run as child processes from this checkout.
os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), str(REPO / "client"),
                                                       os.environ.get("PYTHONPATH", "")) if p)

from bench.client_load import make_safetensors, measure, table, warm  # noqa: E402
from bench.files import read_through  # noqa: E402
from bench.proxy_proc import ProxyOptions, ProxyProcess  # noqa: E402
from bench.upstream import Upstream  # noqa: E402


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="bench/gpu_client.py", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size-mib", type=int, default=8 * 1024, help="file size (default 8192 MiB)")
    parser.add_argument("--device", default="cuda", help="cuda, cuda:N or cpu (default cuda)")
    parser.add_argument("--connections", default="1,8,16", help="HTTP connection counts (default 1,8,16)")
    parser.add_argument("--proxy-workers", type=int, default=1,
                        help="the proxy's --workers (0: one per core; default 1)")
    parser.add_argument("--runs", type=int, default=2, help="runs per variant, best reported (default 2)")
    parser.add_argument("--workdir", type=Path, default=None, help="scratch directory (default: a temp dir in /tmp)")
    parser.add_argument("--time-limit", type=float, default=240.0,
                        help="seconds after which the variants not yet run are reported as skipped (default 240)")
    return parser


def _machine(device: str) -> str:
    cores = os.cpu_count()
    if device.startswith("cuda"):
        import torch

        return f"{torch.cuda.get_device_name(torch.device(device))}, {cores} CPU cores ({platform.node()})"
    return f"CPU only, {cores} cores ({platform.node()})"


def _commit() -> str:
    try:
        done = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short=12", "HEAD"], capture_output=True,
                              text=True, timeout=10, check=False)
    except OSError:
        return "unknown"
    return done.stdout.strip() or "unknown"


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    connections = [int(n) for n in args.connections.split(",")]
    started, started_mono = time.perf_counter(), time.monotonic()
    workdir = Path(tempfile.mkdtemp(prefix="gpu-client-", dir=args.workdir or "/tmp"))
    try:
        files = workdir / "files"
        files.mkdir()
        local = files / "model.safetensors"
        make_safetensors(local, args.size_mib << 20)
        print(f"wrote {local.stat().st_size / 1e9:.2f} GB in {time.perf_counter() - started:.1f} s", flush=True)
        upstream = Upstream(files, workdir)
        try:
            with ProxyProcess(workdir, ProxyOptions(workers=args.proxy_workers), "proxy") as proxy:
                url = upstream.url(local.name)
                t = time.perf_counter()
                warm(f"{proxy.base}/v1/fetch?url={quote(url, safe='')}")
                print(f"proxy warmed (cold fill) in {time.perf_counter() - t:.1f} s", flush=True)
                read_through(local)
                results = measure(local, url, proxy.base, proxy.cache_dir, workdir / "node-tier", args.device,
                                  connections, args.runs, deadline=started_mono + args.time_limit)
        finally:
            upstream.stop()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    import torch

    report = table(results, args.device, _machine(args.device))
    report += (f"\nPython {platform.python_version()}, torch {torch.__version__}, commit {_commit()}; "
               f"whole script: {time.perf_counter() - started:.0f} s.\n")
    print(report)
    if out := os.environ.get("OUT"):
        Path(out).mkdir(parents=True, exist_ok=True)
        (Path(out) / "gpu_client.md").write_text(report)
        (Path(out) / "gpu_client.json").write_text(json.dumps(
            [{"variant": r.label, "seconds": r.seconds, "bytes": r.size, "byte_exact": r.ok, "note": r.note}
             for r in results], indent=1))
    return 0 if all(r.ok for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
