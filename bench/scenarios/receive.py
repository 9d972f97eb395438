"""fill-receive: what receiving fill bytes costs the event loop, the limit of one process's fill
speed whatever its cores (one loop serves every connection of a segmented fill).

Eight concurrent GETs of the fill file from the bench upstream, read in this process the three
ways a fill reads: aiohttp's chunks (one stream, and bodies of unknown length), a connection taken
over into reused buffers on the loop (``proxy.fill.receive.Receiver``: segments over TLS), and a
plain connection received in a thread (``ThreadReceiver``: segments over plain TCP). The first two
drop the bytes; the thread writes them into a temp file, as in a fill. The row is the loop
thread's CPU seconds per GB received. Best of three runs each, the variants alternating.
"""

from __future__ import annotations

import asyncio
import time

import aiohttp

from bench.report import Row, mb
from bench.scenarios.env import FILL_FILE, Emit, Env, size_label
from proxy.fill.receive import BUFFER, RECEIVE_THREADS, Receiver, ThreadReceiver, Wanted, plain_socket
from proxy.storage.blobstore import FsBlobStore
from proxy.storage.layout import Layout
from proxy.storage.writer import Expectation
from proxy.upstream import ObjectMeta, ResponseBody

CONNECTIONS = 8
RUNS = 3


async def _drop(region: memoryview, at: int) -> None:
    return None


async def _chunks(session: aiohttp.ClientSession, url: str) -> int:
    got = 0
    async with session.get(url) as response:
        async for chunk in ResponseBody(response, ObjectMeta(size=None), "bench").chunks():
            got += len(chunk)
    return got


async def _taken_over(session: aiohttp.ClientSession, url: str, store: FsBlobStore | None) -> int:
    response = await session.get(url)
    body = ResponseBody(response, ObjectMeta(size=response.content_length), "bench")
    try:
        taken = body.takeover()
        assert taken is not None
        assert response.content_length is not None
        span = Wanted(0, response.content_length)
        if store is None:
            await Receiver(span, _drop, (bytearray(BUFFER), bytearray(BUFFER))).run(taken)
            return span.pos
        sock = plain_socket(taken)
        assert sock is not None
        writer = store.create(Expectation())
        try:
            await ThreadReceiver(span, lambda a, b: None, bytearray(BUFFER)).run(
            taken, sock, lambda receive: writer.place(receive, RECEIVE_THREADS))
        finally:
            await writer.cancel()
        return span.pos
    finally:
        await body.close()


async def _run(url: str, variant: str, store: FsBlobStore) -> tuple[int, float, float]:
    """Bytes, seconds and the loop thread's CPU seconds of one run."""
    async with aiohttp.ClientSession(auto_decompress=False, read_bufsize=1 << 18) as session:
        t0, cpu0 = time.perf_counter(), time.thread_time()
        if variant == "chunks":
            reads = [_chunks(session, url) for _ in range(CONNECTIONS)]
        else:
            reads = [_taken_over(session, url, store if variant == "thread" else None) for _ in range(CONNECTIONS)]
        sizes = await asyncio.gather(*reads)
        return sum(sizes), time.perf_counter() - t0, time.thread_time() - cpu0


def fill_receive(env: Env, emit: Emit) -> None:
    f = env.files[FILL_FILE]
    url = env.upstream.url(f.name)
    store = FsBlobStore(Layout(env.workdir / "fill-receive"), "bench")
    names = {"chunks": "aiohttp's chunks (one stream; the reference)",
             "loop": "taken over, received on the loop (TLS segments)",
             "thread": "taken over, received and written in a thread (plain segments)"}
    best: dict[str, tuple[float, float]] = {}
    for _ in range(RUNS):
        for variant in names:
            size, seconds, cpu = asyncio.run(_run(url, variant, store))
            if size != CONNECTIONS * f.size:
                raise RuntimeError(f"fill-receive: got {size} bytes of {CONNECTIONS * f.size}")
            per_gb = cpu / (size / 1e9)
            if variant not in best or per_gb < best[variant][0]:
                best[variant] = (per_gb, size / seconds)
    for variant, (per_gb, speed) in best.items():
        ceiling = f"one loop's ceiling {1 / per_gb:.1f} GB/s" if per_gb > 0.001 else "no per-byte work on the loop"
        emit(Row("fill-receive", f"{CONNECTIONS} x {size_label(f.size)} GETs, {names[variant]}",
                 f"loop {per_gb:.3f} CPU s per GB", f"{mb(speed)} MB/s received; {ceiling}",
                 f"best of {RUNS}; " + ("written to a temp file" if variant == "thread" else "bytes dropped")))
    for variant in ("loop", "thread"):
        ratio = best["chunks"][0] / max(best[variant][0], 1e-6)
        emit(Row("fill-receive", f"loop CPU per GB: aiohttp's chunks / {names[variant]}", f"{ratio:.1f} x less",
                 f"{best['chunks'][0]:.3f} -> {best[variant][0]:.3f} s per GB", "the loop bounds one process's fill"))
