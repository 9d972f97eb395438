"""herd: many clients ask for one cold file at once, through the proxy and through nginx's cache lock.

Also reports each server's peak RSS during its herd (rows ``herd-rss``).
"""

from __future__ import annotations

import collections
import statistics
from collections.abc import Callable
from dataclasses import dataclass

from bench.clients import Timed
from bench.files import TestFile, read_through
from bench.nginx import LOCK_TIMEOUT, SLICE_LABEL
from bench.proxy_proc import ProxyOptions
from bench.report import Row, mb
from bench.rss import RssSampler
from bench.scenarios.env import HERD_FILE, Emit, Env, Unavailable, size_label, skipped, verify_index
from bench.scenarios.warm import proxy_label

RSS_TARGET = 200e6


@dataclass(frozen=True, slots=True)
class HerdRun:
    label: str
    results: list[Timed]
    wall: float
    gets: int
    sent: int
    peak_rss: int
    """Bytes; summed over the server's processes."""
    processes: int = 1

    def exact(self, f: TestFile) -> int:
        return sum(1 for r in self.results if r.error is None and r.status == 200 and r.blake3 == f.blake3)


def run_herd(env: Env, label: str, url: str, target: str, clients: int, pids: Callable[[], list[int]]) -> HerdRun:
    """``clients`` concurrent downloads of ``target`` (whose upstream URL is ``url``), from one client
    process or spread over ``env.client_procs``."""
    before = env.upstream.counter(url)
    server = pids()
    with RssSampler(*server) as rss:
        results, wall = env.pull([target] * clients)
    after = env.upstream.counter(url)
    return HerdRun(label, results, wall, after.gets - before.gets, after.bytes - before.bytes, rss.peak_kib * 1000,
                   len(server))


def herd(env: Env, emit: Emit) -> None:
    f = env.files[HERD_FILE]
    read_through(f.path)
    clients, rate = env.sizes.herd_clients, env.sizes.herd_rate
    url = env.upstream.url(f.name, rate)

    direct, direct_wall = env.pull([url])
    if direct[0].blake3 != f.blake3:
        raise RuntimeError(f"herd: the direct download is not byte-exact: {direct[0]}")

    runs: list[HerdRun] = []
    warm: HerdRun | None = None
    indexed = 0
    for workers in env.workers:
        label = proxy_label(workers)
        with env.proxy(ProxyOptions(workers=workers), f"herd-w{workers}") as proxy:
            with env.profiled(proxy.pid, "herd-proxy"):
                runs.append(run_herd(env, label, url, proxy.fetch_url(url), clients, proxy.pids))
            indexed += verify_index(proxy, [f])
            if warm is None:  # the same herd again, now a warm hit: these clients' ceiling with no fill
                with env.profiled(proxy.pid, "herd-proxy-warm"):
                    warm = run_herd(env, f"{label}, warm", url, proxy.fetch_url(url), clients, proxy.pids)
            env.check_log(proxy, f"herd {label}")
    assert warm is not None
    for label, sliced in (("nginx proxy_cache_lock", False), (f"nginx proxy_cache_lock + {SLICE_LABEL}", True)):
        try:
            with env.nginx(sliced, "herd") as server:
                runs.append(run_herd(env, label, url, server.url(url), clients, server.pids))
                env.check_nginx(server, f"herd {label}")
        except Unavailable as exc:
            emit(skipped("herd", label, str(exc)))

    variant = f"{clients} clients, one cold {size_label(f.size)} file, upstream throttled to {rate / 1e6:.0f} MB/s"
    nginx = next((r for r in runs if r.label == "nginx proxy_cache_lock"), None)
    for run in runs:
        emit(_herd_row(run, f, variant, direct_wall, warm.wall, nginx))
    warm_exact = warm.exact(f)
    emit(
        Row(
            "herd",
            f"the same {clients} clients on the cached file, proxy (warm hit: the client's ceiling)",
            f"last client done {warm.wall:.2f} s; byte-exact {warm_exact}/{clients}",
            f"{warm.wall / direct_wall:.1f} x one direct download",
            f"aggregate {mb(sum(r.size for r in warm.results) / warm.wall)} MB/s; index digest ok "
            f"{indexed}/{len(env.workers)}; "
            f"upstream GETs {warm.gets}",
        )
    )
    for run in runs:
        per_process = run.label.startswith("proxy") and run.processes > 1  # the target is per worker
        versus = f"{run.peak_rss / run.processes / RSS_TARGET if per_process else run.peak_rss / RSS_TARGET:.2f}"
        versus += " x the 200 MB target" + (" per process" if per_process else "") + (
            f"; {run.peak_rss / nginx.peak_rss:.2f} x nginx" if nginx and nginx.peak_rss else ""
        )
        emit(
            Row(
                "herd-rss",
                f"{run.label}, during the herd above",
                f"peak RSS {run.peak_rss / 1e6:.0f} MB",
                versus,
                "sampled every 50 ms"
                + ("; master + workers + cache processes, summed" if run.label.startswith("nginx") else "")
                + (f"; supervisor + workers ({run.processes} processes), summed" if per_process else ""),
            )
        )


def _herd_row(
    run: HerdRun, f: TestFile, variant: str, direct_wall: float, warm_wall: float, nginx: HerdRun | None
) -> Row:
    """One server's herd. ``warm_wall``: the same clients on the proxy's cached file, the client's ceiling."""
    clients = len(run.results)
    worst = max(run.results, key=lambda r: r.max_gap)
    first = sorted(r.first_byte for r in run.results)
    done = sorted(r.done for r in run.results)
    outcomes = collections.Counter(r.x_cache or f"status {r.status}" for r in run.results)
    errors = [r.error for r in run.results if r.error]
    stalled = sum(1 for r in run.results if r.max_gap > 1.0)
    versus = (
        f"last client done {run.wall:.2f} s vs one direct download {direct_wall:.2f} s "
        f"({run.wall / direct_wall:.1f} x), "
        f"vs the same clients on the cached file {warm_wall:.2f} s ({run.wall / warm_wall:.2f} x)"
    )
    if nginx is not None and nginx is not run:
        versus += (
            f"; {run.wall / nginx.wall:.2f} x nginx's time, {run.sent / max(nginx.sent, 1):.2f} x its upstream bytes"
        )
    lock_note = ""
    if run.label.startswith("nginx proxy_cache_lock") and "slice" not in run.label:
        lock_note = (
            f"; clients stalled > 1 s: {stalled}/{clients} (waiters hold for the whole file, "
            f"or {LOCK_TIMEOUT:.0f} s, then fetch uncached)"
        )
    return Row(
        "herd",
        f"{variant}, {run.label}",
        f"upstream GETs {run.gets}, upstream bytes {run.sent / f.size:.2f} x file; byte-exact "
        f"{run.exact(f)}/{clients}; max stall {worst.max_gap:.3f} s",
        versus,
        f"stall at byte {worst.max_gap_at:,} of a {worst.x_cache or '?'} client; "
        f"first byte p50 {statistics.median(first):.3f} s, max {first[-1]:.3f} s; "
        f"clients done p50 {statistics.median(done):.2f} s; X-Cache {dict(sorted(outcomes.items()))}; "
        f"aggregate {mb(sum(r.size for r in run.results) / run.wall)} MB/s"
        + lock_note
        + (f"; errors: {errors[:3]}" if errors else ""),
    )
