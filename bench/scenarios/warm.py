"""warm-hit (one client) and warm-many (concurrent clients): a cached file served again."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from bench.clients import CurlResult, curl, curl_many, timed_many
from bench.files import in_page_cache, read_through
from bench.load import pid_cpu
from bench.nginx import SLICE_LABEL, NginxProcess
from bench.proxy_proc import ProxyOptions, ProxyProcess
from bench.report import Row, mb
from bench.scenarios.env import Emit, Env, Unavailable, big_name, blob_path, checked, size_label, skipped

WARM_VARIANTS: tuple[tuple[str, ProxyOptions], ...] = (
    ("proxy, asyncio + sendfile", ProxyOptions(sendfile=True, event_loop="asyncio")),
    ("proxy, asyncio --no-sendfile", ProxyOptions(sendfile=False, event_loop="asyncio")),
    ("proxy, uvloop (no loop.sendfile: falls back)", ProxyOptions(sendfile=True, event_loop="uvloop")),
)
NGINX_VARIANTS: tuple[tuple[str, bool], ...] = (
    ("nginx proxy_cache", False),
    (f"nginx proxy_cache + {SLICE_LABEL}", True),
)


@dataclass
class Target:
    """One server of the same file: where to download it, what a hit says, and what to keep warm."""

    label: str
    url: str
    outcome: str | None
    """The X-Cache value of a hit (None: the upstream, which sends none)."""
    paths: Callable[[], list[Path]]
    """The files the server sends from (kept in the page cache before each run)."""
    pids: Callable[[], list[int]]
    detail: str = ""
    results: list[CurlResult] = field(default_factory=list)
    cpu: float = 0.0
    resident: float = 1.0

    def keep_warm(self) -> None:
        # Page cache that stays unread for a while may be reclaimed (e.g. by a VM's DAMON);
        # read the files once more right before each run, and record what was resident then.
        paths = self.paths()
        for p in paths:
            read_through(p)
        if paths:
            self.resident = min(self.resident, sum(in_page_cache(p) for p in paths) / len(paths))

    def server_cpu(self) -> float:
        return sum(pid_cpu(p) for p in self.pids())


def nginx_cache_files(nginx: NginxProcess) -> list[Path]:
    return [p for p in (nginx.root / "cache").rglob("*") if p.is_file()]


def proxy_label(workers: int, default: str = "proxy") -> str:
    """Rows of the default single process keep their label; a ``--workers`` sweep names its value."""
    return default if workers == 1 else f"proxy --workers {workers}"


def _proxy_target(label: str, proxy: ProxyProcess, url: str, digest: str, size: int) -> Target:
    purl = proxy.fetch_url(url)
    fill = checked(curl(purl), size, "miss", f"{label}: fill")
    if not blob_path(proxy, digest).exists():
        raise RuntimeError(f"{label}: no blob named by the file's blake3 after the fill")
    warmup, _ = timed_many([purl])  # the warm-up run, and a check of the bytes a hit serves
    if not (warmup[0].status == 200 and warmup[0].x_cache == "hit" and warmup[0].blake3 == digest):
        raise RuntimeError(f"{label}: warm-up hit was not byte-exact: {warmup[0]}")
    return Target(
        label,
        purl,
        "hit",
        lambda: [blob_path(proxy, digest)],
        proxy.pids,
        f"hit body blake3 ok; the cold fill before: {mb(fill.speed)} MB/s",
    )


def _nginx_target(label: str, nginx: NginxProcess, url: str, digest: str, size: int) -> Target:
    nurl = nginx.url(url)
    fill = checked(curl(nurl), size, "MISS", f"{label}: fill")
    warmup, _ = timed_many([nurl])
    if not (warmup[0].status == 200 and warmup[0].x_cache == "HIT" and warmup[0].blake3 == digest):
        raise RuntimeError(f"{label}: warm-up hit was not byte-exact: {warmup[0]}")
    return Target(
        label,
        nurl,
        "HIT",
        lambda: nginx_cache_files(nginx),
        nginx.pids,
        f"hit body blake3 ok; the cold fill before: {mb(fill.speed)} MB/s",
    )


def _nginx_targets(
    env: Env,
    stack: contextlib.ExitStack,
    emit: Emit,
    scenario: str,
    url: str,
    digest: str,
    size: int,
    variants: Sequence[tuple[str, bool]],
) -> list[Target]:
    targets = []
    for label, sliced in variants:
        try:
            nginx = stack.enter_context(env.nginx(sliced, scenario))
        except Unavailable as exc:
            emit(skipped(scenario, label, str(exc)))
            continue
        stack.callback(env.check_nginx, nginx, f"{scenario} {label}")
        targets.append(_nginx_target(label, nginx, url, digest, size))
    return targets


def warm_hit(env: Env, emit: Emit) -> None:
    """Runs are interleaved (direct, then each server, round after round), so that a slow spell of
    a shared machine does not land on one variant only."""
    f = env.files[big_name(0)]
    read_through(f.path)
    url = env.upstream.url(f.name)
    size = size_label(f.size)
    with contextlib.ExitStack() as stack:
        direct = Target(
            f"direct from upstream, {size} (reference)", url, None, lambda: [f.path], lambda: [env.upstream.child.pid]
        )
        targets = [direct]
        for label, options in WARM_VARIANTS:
            proxy = stack.enter_context(env.proxy(options, "warm-hit"))
            stack.callback(env.check_log, proxy, f"warm-hit {label}")
            targets.append(_proxy_target(f"{label}, {size}", proxy, url, f.blake3, f.size))
        targets += _nginx_targets(env, stack, emit, "warm-hit", url, f.blake3, f.size, NGINX_VARIANTS)
        checked(curl(url), f.size, None, "direct warm-up")
        for _ in range(env.sizes.runs):
            for t in targets:
                t.keep_warm()
                before = t.server_cpu()
                t.results.append(checked(curl(t.url), f.size, t.outcome, t.label))
                t.cpu += t.server_cpu() - before

    best_direct = max(r.speed for r in direct.results)
    nginx = next((t for t in targets if t.label.startswith("nginx proxy_cache")), None)
    best_nginx = max(r.speed for r in nginx.results) if nginx else None
    for t in targets:
        best = max(r.speed for r in t.results)
        versus = f"{best / best_direct:.2f} x direct" + (f", {best / best_nginx:.2f} x nginx" if best_nginx else "")
        emit(
            Row(
                "warm-hit",
                t.label,
                f"{mb(best)} MB/s",
                versus,
                f"runs {_runs(t.results)} MB/s; server CPU {t.cpu / (len(t.results) * f.size / 1e9):.2f} "
                f"s per GB sent; sent from files >= {t.resident:.0%} in page cache before each run"
                + (f"; {t.detail}" if t.detail else ""),
            )
        )


def _runs(results: Sequence[CurlResult]) -> str:
    return "/".join(mb(r.speed) for r in results)


def warm_many(env: Env, emit: Emit) -> None:
    """``warm_clients`` curl processes download the cached file at once; best aggregate of the rounds."""
    f = env.files[big_name(0)]
    read_through(f.path)
    url = env.upstream.url(f.name)
    n = env.sizes.warm_clients
    with contextlib.ExitStack() as stack:
        direct = Target(
            "direct from upstream (reference)", url, None, lambda: [f.path], lambda: [env.upstream.child.pid]
        )
        targets = [direct]
        for workers in env.workers:
            proxy = stack.enter_context(env.proxy(ProxyOptions(workers=workers), f"warm-many-w{workers}"))
            stack.callback(env.check_log, proxy, f"warm-many --workers {workers}")
            label = proxy_label(workers, "proxy (default: asyncio + sendfile)")
            targets.append(_proxy_target(label, proxy, url, f.blake3, f.size))
        targets += _nginx_targets(env, stack, emit, "warm-many", url, f.blake3, f.size, NGINX_VARIANTS[:1])
        walls: dict[str, list[float]] = {t.label: [] for t in targets}
        for _ in range(min(2, env.sizes.runs)):  # each round moves clients x file per server
            for t in targets:
                t.keep_warm()
                before = t.server_cpu()
                results, wall = curl_many([t.url] * n)
                t.cpu += t.server_cpu() - before
                for r in results:
                    checked(r, f.size, t.outcome, t.label)
                t.results += results
                walls[t.label].append(wall)

    def best(t: Target) -> float:
        return n * f.size / min(walls[t.label])

    nginx = next((t for t in targets if t.label.startswith("nginx")), None)
    for t in targets:
        versus = f"{best(t) / best(direct):.2f} x direct" + (f", {best(t) / best(nginx):.2f} x nginx" if nginx else "")
        speeds = sorted(r.speed for r in t.results)
        emit(
            Row(
                "warm-many",
                f"{n} clients x {size_label(f.size)}, {t.label}",
                f"aggregate {mb(best(t))} MB/s",
                versus,
                f"walls {'/'.join(f'{w:.2f}' for w in walls[t.label])} s; per-client {mb(speeds[0])}-"
                f"{mb(speeds[-1])} MB/s; server CPU {t.cpu / (len(t.results) * f.size / 1e9):.2f} s per GB sent",
            )
        )
