"""The scenarios. Each takes the run's environment and emits rows (printed at once, tabled at the end)."""

from __future__ import annotations

import collections
import contextlib
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from bench.clients import CurlResult, curl, curl_many, timed_many
from bench.disk import write_fsync_speed
from bench.files import GiB, MiB, TestFile, in_page_cache, read_through
from bench.load import pid_cpu, pid_cpu_split
from bench.process import proc_status_kib
from bench.proxy_proc import ProxyOptions, ProxyProcess
from bench.report import Row, mb
from bench.rss import RssSampler
from bench.upstream import Upstream

Emit = Callable[[Row], None]
SETTLE = 15.0
"""Seconds cold-rss waits between its disk probe and the proxy run (see there)."""


@dataclass(frozen=True, slots=True)
class Sizes:
    big: int
    """warm-hit's file and each of cold-rss's files."""
    herd: int
    herd_clients: int = 64
    herd_rate: float = 200e6
    cold_streams: int = 8
    runs: int = 3


FULL = Sizes(big=GiB, herd=64 * MiB)
QUICK = Sizes(big=256 * MiB, herd=64 * MiB)


@dataclass
class Env:
    workdir: Path
    files: dict[str, TestFile]
    upstream: Upstream
    sizes: Sizes
    notes: list[str] = field(default_factory=list)

    def proxy(self, options: ProxyOptions, name: str) -> ProxyProcess:
        return ProxyProcess(self.workdir, options, name)

    def check_log(self, proxy: ProxyProcess, label: str) -> None:
        """Any line the proxy logged at warning level or above becomes a note."""
        lines = [line for line in proxy.log_text().splitlines() if line.strip()]
        if lines:
            self.notes.append(
                f"{label}: the proxy logged {len(lines)} line(s) at warning or above; first: `{lines[0][:300]}`"
            )


def big_name(i: int) -> str:
    return f"big-{i}"


HERD_FILE = "herd-0"


def file_specs(sizes: Sizes, scenarios: Sequence[str]) -> list[tuple[str, int]]:
    """The files the chosen scenarios need (warm-hit reuses cold-rss's first file)."""
    names: dict[str, int] = {}
    if "warm-hit" in scenarios:
        names[big_name(0)] = sizes.big
    if "cold-rss" in scenarios:
        names.update({big_name(i): sizes.big for i in range(sizes.cold_streams)})
    if "herd" in scenarios:
        names[HERD_FILE] = sizes.herd
    return list(names.items())


def _size_label(n: int) -> str:
    return f"{n // GiB} GiB" if n % GiB == 0 else f"{n // MiB} MiB"


def _checked(result: CurlResult, size: int, x_cache: str | None, what: str) -> CurlResult:
    if result.status != 200 or result.size != size:
        raise RuntimeError(f"{what}: status {result.status}, {result.size} of {size} bytes")
    if x_cache is not None and result.x_cache != x_cache:
        raise RuntimeError(f"{what}: X-Cache is {result.x_cache!r}, expected {x_cache!r}")
    return result


def _blob_path(proxy: ProxyProcess, digest_hex: str) -> Path:
    return proxy.cache_dir / "blobs" / digest_hex[:2] / digest_hex


def _verify_index(proxy: ProxyProcess, files: Sequence[TestFile]) -> int:
    """How many of ``files`` the proxy's index holds with the right blake3 digest and size."""
    entries = {e["digest"]: e for e in proxy.entries()}
    return sum(1 for f in files if (e := entries.get(f"blake3:{f.blake3}")) is not None and e["size"] == f.size)


# -- warm-hit ---------------------------------------------------------------------------------


WARM_VARIANTS: tuple[tuple[str, ProxyOptions], ...] = (
    ("proxy, asyncio + sendfile", ProxyOptions(sendfile=True, event_loop="asyncio")),
    ("proxy, asyncio --no-sendfile", ProxyOptions(sendfile=False, event_loop="asyncio")),
    ("proxy, uvloop (no loop.sendfile: falls back)", ProxyOptions(sendfile=True, event_loop="uvloop")),
)


def warm_hit(env: Env, emit: Emit) -> None:
    """Runs are interleaved (direct, then each proxy, round after round), so that a slow spell of
    a shared machine does not land on one variant only."""
    f = env.files[big_name(0)]
    read_through(f.path)
    url = env.upstream.url(f.name)
    size = _size_label(f.size)
    with contextlib.ExitStack() as stack:
        targets: list[tuple[str, str, str | None]] = [(f"direct from upstream, {size} (reference)", url, None)]
        details: dict[str, str] = {}
        proxies: list[tuple[str, ProxyProcess]] = []
        for label, options in WARM_VARIANTS:
            proxy = stack.enter_context(env.proxy(options, "warm-hit"))
            proxies.append((label, proxy))
            purl = proxy.fetch_url(url)
            fill = _checked(curl(purl), f.size, "miss", f"{label}: fill")
            if not _blob_path(proxy, f.blake3).exists():
                raise RuntimeError(f"{label}: no blob named by the file's blake3 after the fill")
            warmup, _ = timed_many([purl])  # the warm-up run, and a check of the bytes a hit serves
            if not (warmup[0].status == 200 and warmup[0].x_cache == "hit" and warmup[0].blake3 == f.blake3):
                raise RuntimeError(f"{label}: warm-up hit was not byte-exact: {warmup[0]}")
            targets.append((f"{label}, {size}", purl, "hit"))
            details[purl] = f"hit body blake3 ok; the cold fill before: {mb(fill.speed)} MB/s"
        _checked(curl(url), f.size, None, "direct warm-up")
        paths = {url: f.path} | {p.fetch_url(url): _blob_path(p, f.blake3) for _, p in proxies}
        resident: dict[str, float] = dict.fromkeys(paths, 1.0)
        server = {url: env.upstream.child.pid} | {p.fetch_url(url): p.pid for _, p in proxies}
        cpu: dict[str, float] = dict.fromkeys(paths, 0.0)
        results: dict[str, list[CurlResult]] = {u: [] for _, u, _ in targets}
        for _ in range(env.sizes.runs):
            for label, u, outcome in targets:
                # Page cache that stays unread for a while may be reclaimed (e.g. by a VM's DAMON);
                # read the file once more right before each run, and record what was resident then.
                read_through(paths[u])
                resident[u] = min(resident[u], in_page_cache(paths[u]))
                before = pid_cpu(server[u])
                results[u].append(_checked(curl(u), f.size, outcome, label))
                cpu[u] += pid_cpu(server[u]) - before
        for label, proxy in proxies:
            env.check_log(proxy, f"warm-hit {label}")

    best_direct = max(r.speed for r in results[url])
    for label, u, _ in targets:
        best = max(r.speed for r in results[u])
        what = "file" if u == url else "blob"
        emit(
            Row(
                "warm-hit",
                label,
                f"{mb(best)} MB/s",
                f"{best / best_direct:.2f}",
                f"runs {_runs(results[u])} MB/s; server CPU {cpu[u] / (len(results[u]) * f.size / 1e9):.2f} "
                f"s per GB sent; {what} >= {resident[u]:.0%} in page cache before each run"
                + ("" if u == url else f"; {details[u]}"),
            )
        )


def _runs(results: Sequence[CurlResult]) -> str:
    return "/".join(mb(r.speed) for r in results)


# -- herd -------------------------------------------------------------------------------------


def herd(env: Env, emit: Emit) -> None:
    f = env.files[HERD_FILE]
    read_through(f.path)
    clients, rate = env.sizes.herd_clients, env.sizes.herd_rate
    url = env.upstream.url(f.name, rate)

    direct, direct_wall = timed_many([url])
    if direct[0].blake3 != f.blake3:
        raise RuntimeError(f"herd: the direct download is not byte-exact: {direct[0]}")

    with env.proxy(ProxyOptions(), "herd") as proxy:
        before = env.upstream.counter(url)
        with RssSampler(proxy.pid) as rss:
            results, wall = timed_many([proxy.fetch_url(url)] * clients)
        after = env.upstream.counter(url)
        indexed = _verify_index(proxy, [f])
        # The same herd again, now a warm hit: what these clients get when no fill is involved.
        warm, warm_wall = timed_many([proxy.fetch_url(url)] * clients)
        env.check_log(proxy, "herd")

    gets, sent = after.gets - before.gets, after.bytes - before.bytes
    exact = sum(1 for r in results if r.error is None and r.status == 200 and r.blake3 == f.blake3)
    warm_exact = sum(1 for r in warm if r.error is None and r.x_cache == "hit" and r.blake3 == f.blake3)
    errors = [r.error for r in results if r.error]
    worst = max(results, key=lambda r: r.max_gap)
    first = sorted(r.first_byte for r in results)
    outcomes = collections.Counter(r.x_cache or f"status {r.status}" for r in results)
    done = sorted(r.done for r in results)
    emit(
        Row(
            "herd",
            f"{clients} clients, one cold {_size_label(f.size)} file, upstream throttled to {rate / 1e6:.0f} MB/s",
            f"upstream GETs {gets}, upstream bytes {sent / f.size:.2f} x file; byte-exact {exact}/{clients}; "
            f"max stall {worst.max_gap:.3f} s",
            f"last client done {wall:.2f} s vs one direct download {direct_wall:.2f} s ({wall / direct_wall:.1f} x)",
            f"stall at byte {worst.max_gap_at:,} of a {worst.x_cache or '?'} client; "
            f"first byte p50 {statistics.median(first):.3f} s, max {first[-1]:.3f} s; "
            f"clients done p50 {statistics.median(done):.2f} s; X-Cache {dict(sorted(outcomes.items()))}; "
            f"aggregate {mb(sum(r.size for r in results) / wall)} MB/s; "
            f"the same {clients} clients on the warm file: {warm_wall:.2f} s (byte-exact hits {warm_exact}/{clients}); "
            f"index digest ok {indexed}/1; proxy peak RSS {rss.peak_kib / 1000:.0f} MB"
            + (f"; errors: {errors[:3]}" if errors else ""),
        )
    )


# -- cold-rss ---------------------------------------------------------------------------------


def cold_rss(env: Env, emit: Emit) -> None:
    files = [env.files[big_name(i)] for i in range(env.sizes.cold_streams)]
    for f in files:
        read_through(f.path)
    urls = [env.upstream.url(f.name) for f in files]
    total = sum(f.size for f in files)
    n = len(files)

    direct, direct_wall = curl_many(urls)
    for r, f in zip(direct, files, strict=True):
        _checked(r, f.size, None, "cold-rss direct")
    # What the cache volume can take: as many writers as streams, each ending in fsync like a fill.
    disk = write_fsync_speed(env.workdir, n, files[0].size)
    # Freed memory goes back to a VM's host within seconds, and touching it again is slow; give the
    # pages the probe just freed that time, so that the proxy meets memory in the state the probe did.
    time.sleep(SETTLE)
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
            _checked(r, f.size, "miss", "cold-rss")
        gets = sum(env.upstream.counter(u).gets - before[u].gets for u in urls)
        indexed = _verify_index(proxy, files)
        env.check_log(proxy, "cold-rss")

    speeds = sorted(r.speed for r in results)
    user, system = cpu_after[0] - cpu[0], cpu_after[1] - cpu[1]
    emit(
        Row(
            "cold-rss",
            f"{n} concurrent cold streams x {_size_label(files[0].size)}, unthrottled upstream",
            f"peak RSS {rss.peak_kib / 1000:.0f} MB; aggregate {mb(total / wall)} MB/s",
            f"direct from upstream: {mb(total / direct_wall)} MB/s ({direct_wall / wall:.2f}); "
            f"disk alone ({n} writers + fsync): {mb(disk)} MB/s ({total / wall / disk:.2f})",
            f"idle RSS {idle / 1000:.0f} MB; VmHWM {hwm / 1000:.0f} MB; {len(rss.samples)} samples; "
            f"per-stream {mb(speeds[0])}-{mb(speeds[-1])} MB/s; wall {wall:.1f} s; "
            f"proxy CPU {user:.1f} s user + {system:.1f} s system ({(user + system) / wall:.2f} cores); "
            f"upstream GETs {gets}; index digests ok {indexed}/{n}",
        )
    )


SCENARIOS: dict[str, Callable[[Env, Emit], None]] = {"warm-hit": warm_hit, "herd": herd, "cold-rss": cold_rss}
