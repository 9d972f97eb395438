"""The UCX sidecar on a GPU node: one warm blob into GPU memory (and host memory) by the sidecar
(ucxx and NIXL, several UCX settings), the client's HTTP transport and path hand-off, in one run.

Self-contained: starts a local origin (``bench.upstream``) and the proxy from this checkout, writes
a random file (default 4 GiB), warms the proxy with one GET, then runs each variant as a fresh
client process (``bench.ucx_pull``) against a fresh sidecar with the same UCX settings. UCX
variants land in GPU memory directly (ucxx: a CUDA tensor as the receive buffer; NIXL: a ``VRAM``
region the sidecar WRITEs into); HTTP and hand-off read into pinned host memory, then copy once.
Prints a markdown table and writes it (and the raw numbers) to ``$OUT`` when set.

Needs, besides torch with CUDA: the proxy's dependencies (blake3, pydantic, pydantic-settings,
redis) and, for the sidecar, these wheels for CPython 3.12 manylinux x86-64 (no network on the
node: download them elsewhere, install with ``pip install --no-index --no-deps --target DIR *.whl``
and put DIR on ``PYTHONPATH``)::

    pip download --no-deps --only-binary=:all: --python-version 3.12 --platform manylinux_2_28_x86_64 \\
        -d wheels ucxx-cu13 libucxx-cu13 libucx-cu13 rmm-cu13 librmm-cu13 rapids-logger nvidia-ml-py \\
        cuda-core cuda-bindings cuda-pathfinder nixl-cu13 blake3 pydantic pydantic-core pydantic-settings \\
        python-dotenv typing-inspection annotated-types redis typing-extensions

    PYTHONPATH=/path/to/wheels python3 bench/gpu_ucx.py                  # 4 GiB, cuda + host
    python3 bench/gpu_ucx.py --size-mib 256 --device cpu --runs 2        # a check anywhere
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import quote

REPO = Path(__file__).resolve().parent.parent
for entry in (str(REPO / "client"), str(REPO)):
    if entry not in sys.path:
        sys.path.insert(0, entry)
os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), str(REPO / "client"),
                                                       os.environ.get("PYTHONPATH", "")) if p)

from bench.client_load import warm  # noqa: E402
from bench.files import read_through  # noqa: E402
from bench.proxy_proc import ProxyOptions, ProxyProcess  # noqa: E402
from bench.ucx_compare import HOST_VARIANTS, Outcome, Variant, run_variant, table  # noqa: E402
from bench.upstream import Upstream  # noqa: E402

CUDA = "sm,self,cuda_copy,cuda_ipc"
GPU_VARIANTS = (
    Variant("path hand-off: preadv into pinned memory, 8 threads, then one copy to the GPU", "handoff", threads=8),
    Variant("HTTP from the warm proxy, 8 Range connections into pinned memory, then one copy", "http", threads=8),
    Variant("HTTP from the warm proxy, 16 Range connections into pinned memory, then one copy", "http", threads=16),
    Variant(f"sidecar ucxx straight into GPU memory, UCX_TLS={CUDA}", "ucxx", {"UCX_TLS": CUDA}),
    Variant(f"sidecar ucxx straight into GPU memory, UCX_TLS={CUDA}, 4 ranges in flight", "ucxx",
            {"UCX_TLS": CUDA}, threads=4),
    Variant("sidecar ucxx straight into GPU memory, UCX defaults (UCX_TLS=all)", "ucxx"),
    Variant("sidecar NIXL WRITE into VRAM, UCX_TLS=cma,tcp,cuda_copy,cuda_ipc,self", "nixl",
            {"UCX_TLS": "cma,tcp,cuda_copy,cuda_ipc,self", "UCX_NET_DEVICES": "lo"}),
    Variant("sidecar NIXL WRITE into VRAM, UCX defaults", "nixl"),
)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="bench/gpu_ucx.py", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size-mib", type=int, default=4096, help="blob size (default 4096 MiB)")
    parser.add_argument("--device", default="cuda", help="cuda, cuda:N, or cpu for the host variants only")
    parser.add_argument("--runs", type=int, default=3, help="runs per variant, best reported (default 3)")
    parser.add_argument("--workdir", type=Path, default=None, help="scratch directory (default: a temp dir in /tmp)")
    parser.add_argument("--time-limit", type=float, default=420.0,
                        help="seconds after which the variants not yet run are reported as skipped (default 420)")
    return parser


def _machine() -> str:
    try:
        import torch

        gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
    except ImportError:
        gpu = "no torch"
    return f"{gpu}, {os.cpu_count()} CPU cores ({platform.node()})"


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    started, deadline = time.perf_counter(), time.monotonic() + args.time_limit
    workdir = Path(tempfile.mkdtemp(prefix="gpu-ucx-", dir=args.workdir or "/tmp"))
    sections: list[tuple[str, list[Outcome]]] = []
    try:
        files = workdir / "files"
        files.mkdir()
        blob = files / "blob.bin"
        with open(blob, "wb") as file:
            for _ in range(args.size_mib // 64 or 1):
                file.write(os.urandom(64 << 20))
        upstream = Upstream(files, workdir)
        try:
            with ProxyProcess(workdir, ProxyOptions(), "proxy") as proxy:
                url = upstream.url(blob.name)
                warm(f"{proxy.base}/v1/fetch?url={quote(url, safe='')}")
                read_through(blob)
                plans: list[tuple[str, str, tuple[Variant, ...]]] = [("host memory", "cpu", HOST_VARIANTS)]
                if args.device.startswith("cuda"):
                    plans.insert(0, ("GPU memory", args.device, GPU_VARIANTS))
                for destination, device, variants in plans:
                    outcomes = []
                    for variant in variants:
                        if time.monotonic() > deadline:
                            outcomes.append(Outcome(variant, [], 0, False, "skipped: the time limit was reached"))
                            continue
                        outcome = run_variant(variant, proxy.base, url, proxy.cache_dir, workdir, args.runs, device)
                        print(f"  {destination}: {variant.label}: {outcome.gbps():.2f} GB/s "
                              f"{'' if outcome.ok else outcome.note or 'NOT BYTE-EXACT'}", flush=True)
                        outcomes.append(outcome)
                    sections.append((destination, outcomes))
        finally:
            upstream.stop()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    report = "\n".join(table(outcomes, _machine(), destination) for destination, outcomes in sections)
    report += f"\nPython {platform.python_version()}; whole script: {time.perf_counter() - started:.0f} s.\n"
    print(report)
    if out := os.environ.get("OUT"):
        Path(out).mkdir(parents=True, exist_ok=True)
        (Path(out) / "gpu_ucx.md").write_text(report)
        (Path(out) / "gpu_ucx.json").write_text(json.dumps(
            [{"destination": d, "variant": o.variant.label, "seconds": o.seconds, "bytes": o.size,
              "byte_exact": o.ok, "note": o.note} for d, outcomes in sections for o in outcomes], indent=1))
    return 0 if all(o.ok for _, outcomes in sections for o in outcomes) else 1


if __name__ == "__main__":
    sys.exit(main())
