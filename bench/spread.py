"""Clients spread over processes (``--client-procs``): each client process pulls its share of the
downloads with one thread each (``http.client`` ``readinto``, which releases the GIL while it
reads), and every process starts at one instant (a barrier).

One aiohttp client process tops out near 1.5 GB/s on the 16-core node whatever its connection count
(``../shared/notes/gpu-node.md``), so a herd or fan-out measured from one process measures the
client. Results are ``bench.clients.Timed`` (times from the common start), the same as
``timed_many``'s.
"""

from __future__ import annotations

import http.client
import multiprocessing
import threading
import time
import urllib.parse
from collections.abc import Sequence
from multiprocessing.queues import Queue
from multiprocessing.synchronize import Barrier

from bench.clients import Timed

BUFFER = 1 << 20
START_TIMEOUT = 120.0
DONE_TIMEOUT = 1800.0


def pull(url: str, t0: float, digest: bool = True) -> Timed:
    """One download: bytes counted (and blake3-hashed with ``digest``), the longest wait timed."""
    import blake3

    hasher = blake3.blake3() if digest else None
    parts = urllib.parse.urlsplit(url)
    size, status, x_cache, served_by = 0, 0, "", ""
    started = last = time.perf_counter()
    first_byte = max_gap = 0.0
    max_gap_at = 0
    error: str | None = None
    buf = bytearray(BUFFER)
    view = memoryview(buf)
    conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port or 80, timeout=120)
    try:
        conn.request("GET", parts.path + (f"?{parts.query}" if parts.query else ""))
        response = conn.getresponse()
        status, x_cache = response.status, response.getheader("X-Cache", "") or ""
        served_by = response.getheader("X-Modelmanager-Worker", "") or ""
        while n := response.readinto(view):
            now = time.perf_counter()
            if size == 0:
                first_byte = now - started
            if now - last > max_gap:
                max_gap, max_gap_at = now - last, size
            last = now
            if hasher is not None:
                hasher.update(view[:n])
            size += n
    except (OSError, http.client.HTTPException) as exc:
        error = repr(exc)
    finally:
        conn.close()
    return Timed(status, size, hasher.hexdigest() if hasher else "", x_cache, first_byte, max_gap, max_gap_at,
                 time.perf_counter() - t0, error, served_by)


def _client_process(urls: Sequence[str], digest: bool, barrier: Barrier, out: Queue[list[Timed]]) -> None:
    results: list[Timed | None] = [None] * len(urls)
    barrier.wait(START_TIMEOUT)
    t0 = time.perf_counter()  # CLOCK_MONOTONIC: the same clock in every process

    def one(i: int) -> None:
        results[i] = pull(urls[i], t0, digest)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(len(urls))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    out.put([r for r in results if r is not None])


def pull_spread(urls: Sequence[str], procs: int, digest: bool = True) -> tuple[list[Timed], float]:
    """The downloads, spread round-robin over ``procs`` client processes, all started together.
    Returns every result and the wall time (start to the last client done)."""
    ctx = multiprocessing.get_context("spawn")
    shares = [list(urls[i::procs]) for i in range(max(1, procs))]
    shares = [s for s in shares if s]
    barrier = ctx.Barrier(len(shares) + 1)
    out: Queue[list[Timed]] = ctx.Queue()
    children = [ctx.Process(target=_client_process, args=(s, digest, barrier, out), daemon=True) for s in shares]
    for child in children:
        child.start()
    try:
        barrier.wait(START_TIMEOUT)
        started = time.perf_counter()
        results = [r for _ in children for r in out.get(timeout=DONE_TIMEOUT)]
        wall = max((r.done for r in results), default=time.perf_counter() - started)
    finally:
        for child in children:
            child.join(5)
            if child.is_alive():
                child.kill()
    return results, wall
