"""All cores serve, measured on a big node: warm fan-out and the herd with ``--workers 1..16``.

Self-contained: the local upstream (``bench.upstream``), the proxy (``python -m proxy serve``) and
the clients (``bench.spread``: client processes x threads, ``http.client``) all run here, over
loopback. Needs aiohttp, blake3, pydantic(-settings), prometheus-client; no network, nginx, Redis
or olah. About 3 minutes with the defaults on a 16-core node::

    PYTHONPATH=<wheels dir> python3 bench/gpu_workers.py          # from the checkout's root
    python3 bench/gpu_workers.py --size 8MiB --clients 8 --client-procs 2 --workers 1,2 --herd-workers 1,2

(a) warm fan-out: ``--clients`` clients in ``--client-procs`` processes pull one cached file, for
each of ``--workers``, then the same from a bare aiohttp ``FileResponse`` server (sendfile), the
reference. (b) herd: the same clients on one cold file, the upstream paced at ``--rate``, for each
of ``--herd-workers``: upstream GETs, byte-exact clients, last client vs one direct download,
longest gap. The table goes to stdout, and to ``$OUT/workers.md`` (with ``workers.json``) when
``OUT`` is set.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import re
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p)

from bench.clients import Timed  # noqa: E402
from bench.process import ChildProcess, free_port, proc_status_kib, wait_http_ok  # noqa: E402
from bench.proxy_proc import ProxyOptions, ProxyProcess  # noqa: E402
from bench.spread import pull, pull_spread  # noqa: E402
from bench.upstream import Upstream  # noqa: E402

BARE_SERVER = """
import sys
from aiohttp import web
path = sys.argv[2]
async def handle(request):
    return web.FileResponse(path)
app = web.Application()
app.router.add_get("/f", handle)
web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), print=None, access_log=None)
"""


def parse_size(text: str) -> int:
    match = re.fullmatch(r"(\d+)\s*(KiB|MiB|GiB)?", text)
    if match is None:
        raise argparse.ArgumentTypeError(f"not a size: {text!r} (e.g. 1GiB, 8MiB)")
    return int(match[1]) << {"KiB": 10, "MiB": 20, "GiB": 30, None: 0}[match[2]]


def parse_counts(text: str) -> list[int]:
    return [int(x) for x in text.split(",") if x.strip()]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python3 bench/gpu_workers.py", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=parse_size, default=1 << 30, help="Size of each test file (default 1GiB).")
    parser.add_argument("--clients", type=int, default=64)
    parser.add_argument("--client-procs", type=int, default=8)
    parser.add_argument("--workers", type=parse_counts, default=[1, 4, 8, 16], help="Warm fan-out sweep.")
    parser.add_argument("--herd-workers", type=parse_counts, default=[1, 16], help="Herd sweep.")
    parser.add_argument("--rate", type=float, default=200e6, help="Herd upstream pace, bytes per second.")
    parser.add_argument("--workdir", type=Path, default=None,
                        help="Where the files and caches go (default /dev/shm when it has room, else /tmp).")
    return parser


def workdir(size: int) -> Path:
    """/dev/shm (memory) when it holds the two files, their blob copy and a proxy cache; else /tmp."""
    shm = Path("/dev/shm")
    if shm.is_dir():
        st = os.statvfs(shm)
        if st.f_bavail * st.f_frsize > 5 * size + (1 << 30):
            return shm
    return Path(tempfile.gettempdir())


def make_file(path: Path, size: int) -> str:
    """A file of random bytes; returns its blake3."""
    import blake3

    hasher = blake3.blake3(max_threads=blake3.blake3.AUTO)
    block: Callable[[int], bytes] = os.urandom
    try:
        import numpy as np

        block = np.random.default_rng().bytes  # a few GB/s; os.urandom is far slower
    except ImportError:
        pass
    with path.open("wb") as out:
        left = size
        while left:
            chunk = block(min(64 << 20, left))
            out.write(chunk)
            hasher.update(chunk)
            left -= len(chunk)
    return str(hasher.hexdigest())


def peak_rss_mb(pids: list[int]) -> float:
    return max((proc_status_kib(p, "VmHWM") or 0) for p in pids) / 1000


def gbps(results: list[Timed], wall: float) -> float:
    return sum(r.size for r in results) / wall / 1e9


def warm(args: argparse.Namespace, work: Path, upstream: Upstream, name: str, size: int) -> list[dict[str, Any]]:
    rows = []
    url = upstream.url(name)
    blob: Path | None = None
    for workers in args.workers:
        with ProxyProcess(work, ProxyOptions(workers=workers), f"warm-w{workers}") as proxy:
            target = proxy.fetch_url(url)
            fill = pull(target, time.perf_counter())
            if fill.size != size or fill.x_cache != "miss":
                raise RuntimeError(f"warm fill through the proxy: {fill}")
            pull_spread([target] * args.client_procs, args.client_procs, digest=False)  # warm-up
            results, wall = pull_spread([target] * args.clients, args.client_procs, digest=False)
            bad = [r for r in results if r.size != size or r.x_cache != "hit" or r.error]
            served = collections.Counter(r.served_by or "0" for r in results)
            rows.append({"what": f"warm fan-out, proxy --workers {workers}", "GB/s": round(gbps(results, wall), 2),
                         "wall_s": round(wall, 2), "bad": len(bad), "workers_that_served": len(served),
                         "peak_rss_mb_per_worker": round(peak_rss_mb(proxy.pids()[1:] or [proxy.pid]), 0)})
            print(json.dumps(rows[-1]), flush=True)
            if blob is None:
                blob = next(iter((proxy.cache_dir / "blobs").glob("*/*")))
                shutil.copyfile(blob, work / "blob.bin")
                blob = work / "blob.bin"
    assert blob is not None
    port = free_port()
    (work / "bare.py").write_text(BARE_SERVER)
    bare = ChildProcess("bare", [sys.executable, str(work / "bare.py"), str(port), str(blob)], work / "bare.log")
    try:
        wait_http_ok(f"http://127.0.0.1:{port}/f", bare)
        target = f"http://127.0.0.1:{port}/f"
        pull_spread([target] * args.client_procs, args.client_procs, digest=False)
        results, wall = pull_spread([target] * args.clients, args.client_procs, digest=False)
        rows.append({"what": "warm fan-out, bare aiohttp FileResponse (one process, sendfile)",
                     "GB/s": round(gbps(results, wall), 2), "wall_s": round(wall, 2),
                     "bad": sum(1 for r in results if r.size != size or r.error)})
        print(json.dumps(rows[-1]), flush=True)
    finally:
        bare.stop()
    return rows


def herd(args: argparse.Namespace, work: Path, upstream: Upstream, name: str, digest: str) -> list[dict[str, Any]]:
    url = upstream.url(name, args.rate)
    direct = pull(url, time.perf_counter())
    if direct.blake3 != digest:
        raise RuntimeError(f"direct download not byte-exact: {direct}")
    rows = []
    for workers in args.herd_workers:
        with ProxyProcess(work, ProxyOptions(workers=workers), f"herd-w{workers}") as proxy:
            before = upstream.counter(url)
            results, wall = pull_spread([proxy.fetch_url(url)] * args.clients, args.client_procs)
            after = upstream.counter(url)
            rows.append({"what": f"herd, proxy --workers {workers}", "upstream_gets": after.gets - before.gets,
                         "upstream_bytes_x": round((after.bytes - before.bytes) / direct.size, 2),
                         "exact": f"{sum(1 for r in results if r.blake3 == digest and not r.error)}/{len(results)}",
                         "last_client_s": round(wall, 2), "direct_s": round(direct.done, 2),
                         "x_direct": round(wall / direct.done, 2),
                         "longest_gap_s": round(max(r.max_gap for r in results), 3),
                         "first_byte_max_s": round(max(r.first_byte for r in results), 3),
                         "GB/s": round(gbps(results, wall), 2),
                         "workers_that_served": len({r.served_by or "0" for r in results}),
                         "peak_rss_mb_per_worker": round(peak_rss_mb(proxy.pids()[1:] or [proxy.pid]), 0)})
            print(json.dumps(rows[-1]), flush=True)
    return rows


def markdown(rows: list[dict[str, Any]], header: str) -> str:
    keys: list[str] = []
    for row in rows:
        keys += [k for k in row if k not in keys]
    lines = [header, "", "| " + " | ".join(keys) + " |", "|" + "---|" * len(keys)]
    lines += ["| " + " | ".join(str(row.get(k, "")) for k in keys) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    started = time.monotonic()
    work = Path(tempfile.mkdtemp(prefix="mm-workers-", dir=args.workdir or workdir(args.size)))
    try:
        files = work / "files"
        files.mkdir()
        warm_digest = make_file(files / "warm.bin", args.size)
        herd_digest = make_file(files / "herd.bin", args.size)
        del warm_digest
        upstream = Upstream(files, work)
        try:
            warm_rows = warm(args, work, upstream, "warm.bin", args.size)
            herd_rows = herd(args, work, upstream, "herd.bin", herd_digest)
        finally:
            upstream.stop()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    cores = len(os.sched_getaffinity(0))
    size = f"{args.size >> 30} GiB" if args.size % (1 << 30) == 0 else f"{args.size >> 20} MiB"
    header = (f"### --workers on {os.uname().nodename} ({cores} cores): {args.clients} clients in "
              f"{args.client_procs} processes, {size} files; {time.monotonic() - started:.0f} s in all")
    text = header + "\n\n" + markdown(warm_rows, "Warm fan-out (cached file):") + "\n" + markdown(
        herd_rows, f"Herd (cold file, upstream paced at {args.rate / 1e6:.0f} MB/s):")
    rows = warm_rows + herd_rows
    print("\n" + text)
    if out := os.environ.get("OUT"):
        Path(out).mkdir(parents=True, exist_ok=True)
        (Path(out) / "workers.md").write_text(text)
        (Path(out) / "workers.json").write_text(json.dumps(rows, indent=1))
    failed = any(r.get("bad") for r in rows) or any(
        r.get("exact") and r["exact"].split("/")[0] != r["exact"].split("/")[1] for r in rows)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
