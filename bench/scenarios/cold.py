"""cold-miss (one client, throttled upstream: time to first byte and total) and cold-rss (8 cold streams)."""

from __future__ import annotations

import time

from bench.clients import Timed, curl_many, timed_many
from bench.disk import write_fsync_speed
from bench.files import read_through
from bench.load import pid_cpu_split
from bench.nginx import SLICE_LABEL
from bench.process import proc_status_kib
from bench.proxy_proc import ProxyOptions
from bench.report import Row, mb
from bench.rss import RssSampler
from bench.scenarios.env import COLD_FILE, Emit, Env, Unavailable, big_name, checked, size_label, skipped, verify_index

SETTLE = 15.0
"""Seconds cold-rss waits between its disk probe and the proxy run (see there)."""


def cold_miss(env: Env, emit: Emit) -> None:
    """One client asks for a file nobody has cached, through each server in turn (each starts empty)."""
    f = env.files[COLD_FILE]
    read_through(f.path)
    rate = env.sizes.herd_rate
    url = env.upstream.url(f.name, rate)
    results: list[tuple[str, Timed, int]] = []

    def run(label: str, target: str) -> None:
        before = env.upstream.counter(url)
        timed, _ = timed_many([target])
        sent = env.upstream.counter(url).bytes - before.bytes
        if timed[0].error or timed[0].blake3 != f.blake3:
            raise RuntimeError(f"cold-miss {label}: not byte-exact: {timed[0]}")
        results.append((label, timed[0], sent))

    run("direct from upstream (reference)", url)
    with env.proxy(ProxyOptions(), "cold-miss") as proxy:
        run("proxy", proxy.fetch_url(url))
        env.check_log(proxy, "cold-miss")
    for label, sliced in (("nginx proxy_cache", False), (f"nginx proxy_cache + {SLICE_LABEL}", True)):
        try:
            with env.nginx(sliced, "cold-miss") as nginx:
                run(label, nginx.url(url))
                env.check_nginx(nginx, f"cold-miss {label}")
        except Unavailable as exc:
            emit(skipped("cold-miss", label, str(exc)))

    direct = results[0][1]
    nginx_done = next((t.done for label, t, _ in results if label == "nginx proxy_cache"), None)
    for label, t, sent in results:
        versus = f"total {t.done / direct.done:.2f} x direct" + (
            f", {t.done / nginx_done:.2f} x nginx" if nginx_done else ""
        )
        emit(
            Row(
                "cold-miss",
                f"one cold {size_label(f.size)} file, upstream throttled to {rate / 1e6:.0f} MB/s, {label}",
                f"first byte {t.first_byte * 1000:.0f} ms; total {t.done:.2f} s",
                versus,
                f"{mb(f.size / t.done)} MB/s; max stall {t.max_gap:.3f} s at byte {t.max_gap_at:,} of {f.size:,}; "
                f"upstream bytes {sent / f.size:.2f} x file; X-Cache {t.x_cache or '-'}; body blake3 ok",
            )
        )


def cold_rss(env: Env, emit: Emit) -> None:
    files = [env.files[big_name(i)] for i in range(env.sizes.cold_streams)]
    for f in files:
        read_through(f.path)
    urls = [env.upstream.url(f.name) for f in files]
    total = sum(f.size for f in files)
    n = len(files)

    direct, direct_wall = curl_many(urls)
    for r, f in zip(direct, files, strict=True):
        checked(r, f.size, None, "cold-rss direct")
    # What the cache volume can take: as many writers as streams, each ending in fsync like a fill.
    disk = write_fsync_speed(env.workdir, n, files[0].size)
    # Freed memory goes back to a VM's host within seconds, and touching it again is slow; give the
    # pages the probe just freed that time, so that the proxy meets memory in the state the probe did.
    time.sleep(SETTLE if env.sizes.runs > 1 else 0.0)
    for f in files:
        read_through(f.path)

    with env.proxy(ProxyOptions(), "cold-rss") as proxy:
        before = {u: env.upstream.counter(u) for u in urls}
        idle = proc_status_kib(proxy.pid, "VmRSS") or 0
        cpu = pid_cpu_split(proxy.pid)
        with RssSampler(proxy.pid) as rss:
            results, wall = curl_many([proxy.fetch_url(u) for u in urls])
        cpu_after = pid_cpu_split(proxy.pid)
        hwm = proc_status_kib(proxy.pid, "VmHWM") or 0
        for r, f in zip(results, files, strict=True):
            checked(r, f.size, "miss", "cold-rss")
        gets = sum(env.upstream.counter(u).gets - before[u].gets for u in urls)
        indexed = verify_index(proxy, files)
        env.check_log(proxy, "cold-rss")

    speeds = sorted(r.speed for r in results)
    user, system = cpu_after[0] - cpu[0], cpu_after[1] - cpu[1]
    emit(
        Row(
            "cold-rss",
            f"{n} concurrent cold streams x {size_label(files[0].size)}, unthrottled upstream",
            f"peak RSS {rss.peak_kib / 1000:.0f} MB; aggregate {mb(total / wall)} MB/s",
            f"direct from upstream: {mb(total / direct_wall)} MB/s ({direct_wall / wall:.2f}); "
            f"disk alone ({n} writers + fsync): {mb(disk)} MB/s ({total / wall / disk:.2f})",
            f"idle RSS {idle / 1000:.0f} MB; VmHWM {hwm / 1000:.0f} MB; {len(rss.samples)} samples; "
            f"per-stream {mb(speeds[0])}-{mb(speeds[-1])} MB/s; wall {wall:.1f} s; "
            f"proxy CPU {user:.1f} s user + {system:.1f} s system ({(user + system) / wall:.2f} cores); "
            f"upstream GETs {gets}; index digests ok {indexed}/{n}",
        )
    )
