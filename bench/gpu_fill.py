"""Cold fills measured on a big node: one cold file through the proxy, ``--fill-connections 1`` vs 8.

Self-contained: the local upstream (``bench.upstream``: sendfile when unthrottled, paced per
connection with ``?rate=``), the proxy (``python -m proxy serve``) and one client
(``bench.spread.pull``: ``http.client`` ``readinto``) all run here, over loopback, with the files
and the proxy's cache in /dev/shm when it has room. Needs aiohttp, blake3, pydantic(-settings),
prometheus-client (numpy makes the test files faster); no network. About 1-2 minutes with the
defaults on a 16-core node::

    PYTHONPATH=<wheels dir> python3 bench/gpu_fill.py          # from the checkout's root
    python3 bench/gpu_fill.py --size 96MiB --throttled-size 64MiB --rate 20e6   # a quick try

(a) unthrottled: a ``--size`` file (default 8 GiB) from the sendfile upstream, for each of
``--connections``. (b) throttled per connection: a ``--throttled-size`` file (default 1 GiB), the
upstream paced at ``--rate`` per connection (default 50 MB/s). Each row: the client's time to the
last byte (the proxy holds the final byte until the blob is verified and committed, so this is
the fill's time), GB/s, upstream GETs and bytes, the CPU seconds per GB of the proxy's event loop
(its inverse bounds one process's fill speed) and of its other threads, and whether the committed
blob's name (its blake3) is the file's. ``--baseline SCRIPT`` runs each row again with another
build's ``modelmanager`` script, right after (a before/after on one machine; on a small VM the
first of a pair runs slower, so run it in both orders). The table goes to stdout, and to
``$OUT/fill.md`` (with ``fill.json``) when ``OUT`` is set.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p)

from bench.gpu_workers import make_file, markdown, parse_counts, parse_size, workdir  # noqa: E402
from bench.process import proc_status_kib, thread_cpu_seconds  # noqa: E402
from bench.proxy_proc import ProxyOptions, ProxyProcess  # noqa: E402
from bench.spread import pull  # noqa: E402
from bench.upstream import Upstream  # noqa: E402


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python3 bench/gpu_fill.py", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=parse_size, default=8 << 30, help="Unthrottled file (default 8GiB).")
    parser.add_argument("--throttled-size", type=parse_size, default=1 << 30,
                        help="File for the per-connection throttled upstream (default 1GiB).")
    parser.add_argument("--rate", type=float, default=50e6, help="Per-connection pace, bytes per second.")
    parser.add_argument("--connections", type=parse_counts, default=[1, 8], help="--fill-connections values.")
    parser.add_argument("--workers", type=int, default=1, help="The proxy's --workers.")
    parser.add_argument("--baseline", default=None, metavar="SCRIPT",
                        help="Another build's modelmanager script: each row is run with it too, right after.")
    parser.add_argument("--workdir", type=Path, default=None,
                        help="Where the files and caches go (default /dev/shm when it has room, else /tmp).")
    return parser


def fill_row(args: argparse.Namespace, work: Path, upstream: Upstream, origin: str, url: str, size: int,
             digest: str, connections: int, baseline: str | None = None) -> dict[str, Any]:
    options = ProxyOptions(workers=args.workers, extra=("--fill-connections", str(connections)))
    command = [baseline] if baseline else None
    with ProxyProcess(work, options, f"fill-{connections}", command=command) as proxy:
        before = upstream.counter(url)
        cpu_before = [thread_cpu_seconds(p) for p in proxy.pids()]
        t0 = time.perf_counter()
        got = pull(proxy.fetch_url(url), t0, digest=False)
        after = upstream.counter(url)
        cpu_after = [thread_cpu_seconds(p) for p in proxy.pids()]
        blobs = [p.name for p in (proxy.cache_dir / "blobs").glob("*/*")]
        rss = max((proc_status_kib(p, "VmHWM") or 0) for p in proxy.pids()) / 1000
    # the busiest event loop's CPU per GB bounds one fill's speed whatever the cores: 1 / that
    loop_s = max(a[0] - b[0] for a, b in zip(cpu_after, cpu_before, strict=False))
    threads_s = sum(a[1] - b[1] for a, b in zip(cpu_after, cpu_before, strict=False))
    exact = got.size == size and not got.error and got.x_cache == "miss" and blobs == [digest]
    build = " (baseline build)" if baseline else ""
    return {"what": f"cold fill, {origin}, --fill-connections {connections}{build}", "s": round(got.done, 2),
            "GB/s": round(size / got.done / 1e9, 3), "first_byte_ms": round(got.first_byte * 1000),
            "upstream_gets": after.gets - before.gets,
            "upstream_bytes_x": round((after.bytes - before.bytes) / size, 3),
            "loop_cpu_s_per_GB": round(loop_s / (size / 1e9), 3),
            "threads_cpu_s_per_GB": round(threads_s / (size / 1e9), 3),
            "blob_ok": exact, "peak_rss_mb": round(rss)}


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    started = time.monotonic()
    work = Path(tempfile.mkdtemp(prefix="mm-fill-", dir=args.workdir or workdir(args.size)))
    rows: list[dict[str, Any]] = []
    ratios: list[dict[str, Any]] = []
    try:
        files = work / "files"
        files.mkdir()
        cases = [("unthrottled", "big.bin", args.size, None),
                 (f"{args.rate / 1e6:.0f} MB/s per connection", "paced.bin", args.throttled_size, args.rate)]
        upstream = Upstream(files, work)
        try:
            for origin, name, size, rate in cases:
                digest = make_file(files / name, size)
                url = upstream.url(name, rate)
                times = {}
                for connections in args.connections:
                    rows.append(fill_row(args, work, upstream, origin, url, size, digest, connections))
                    times[connections] = rows[-1]["s"]
                    print(json.dumps(rows[-1]), flush=True)
                    if args.baseline:
                        rows.append(fill_row(args, work, upstream, origin, url, size, digest, connections,
                                             args.baseline))
                        print(json.dumps(rows[-1]), flush=True)
                (files / name).unlink()
                low, high = min(times), max(times)
                ratios.append({"what": f"{origin}: {high} connections vs {low}",
                               "speed-up": round(times[low] / times[high], 2)})
        finally:
            upstream.stop()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    cores = len(os.sched_getaffinity(0))
    header = (f"### Cold fills on {os.uname().nodename} ({cores} cores), proxy --workers {args.workers}, "
              f"files and cache in {args.workdir or workdir(args.size)}; {time.monotonic() - started:.0f} s in all")
    text = header + "\n\n" + markdown(rows, "One cold file through the proxy:") + "\n" + markdown(ratios, "Ratios:")
    print("\n" + text)
    if out := os.environ.get("OUT"):
        Path(out).mkdir(parents=True, exist_ok=True)
        (Path(out) / "fill.md").write_text(text)
        (Path(out) / "fill.json").write_text(json.dumps(rows + ratios, indent=1))
    return 0 if all(r["blob_ok"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
