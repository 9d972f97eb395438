"""Download clients: curl for raw speed, and an aiohttp client that hashes and times every chunk."""

from __future__ import annotations

import asyncio
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass

import aiohttp
import blake3

CURL_FORMAT = "%{http_code} %{size_download} %{time_total} %{speed_download} %header{x-cache}\n"


@dataclass(frozen=True, slots=True)
class CurlResult:
    status: int
    size: int
    seconds: float
    speed: float
    """Bytes per second, as curl computes it (size / total time)."""
    x_cache: str


def curl_argv(url: str) -> list[str]:
    return ["curl", "-s", "-o", "/dev/null", "--max-time", "600", "-w", CURL_FORMAT, url]


def parse_curl(out: str) -> CurlResult:
    parts = out.split()
    if len(parts) < 4:
        raise RuntimeError(f"unexpected curl output: {out!r}")
    return CurlResult(
        int(parts[0]), int(parts[1]), float(parts[2]), float(parts[3]), parts[4] if len(parts) > 4 else ""
    )


def curl(url: str) -> CurlResult:
    """One download to /dev/null. Raises on a transport error (curl's exit code)."""
    done = subprocess.run(curl_argv(url), capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"curl {url} failed with exit code {done.returncode}: {done.stdout!r}")
    return parse_curl(done.stdout)


def curl_many(urls: Sequence[str]) -> tuple[list[CurlResult], float]:
    """Concurrent downloads, one curl process each. Returns the results and the wall time."""
    started = time.perf_counter()
    procs = [subprocess.Popen(curl_argv(u), stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True) for u in urls]
    try:
        outs = [p.communicate()[0] for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
    wall = time.perf_counter() - started
    for url, proc, out in zip(urls, procs, outs, strict=True):
        if proc.returncode != 0:
            raise RuntimeError(f"curl {url} failed with exit code {proc.returncode}: {out!r}")
    return [parse_curl(o) for o in outs], wall


@dataclass(frozen=True, slots=True)
class Timed:
    """One download by the aiohttp client. Times are seconds since the common start."""

    status: int
    size: int
    blake3: str
    x_cache: str
    first_byte: float
    """From sending the request to the first body chunk."""
    max_gap: float
    """Longest wait for a chunk: the first (from the request) or any later one (from the previous)."""
    max_gap_at: int
    """Body offset at which that wait ended."""
    done: float
    error: str | None = None
    served_by: str = ""
    """The ``X-Modelmanager-Worker`` header: which worker of ``--workers N`` answered."""


async def timed_download(session: aiohttp.ClientSession, url: str, t0: float) -> Timed:
    hasher = blake3.blake3()
    size, status, x_cache = 0, 0, ""
    started = last = time.perf_counter()
    first_byte = max_gap = 0.0
    max_gap_at = 0
    error: str | None = None
    try:
        async with session.get(url) as response:
            status, x_cache = response.status, response.headers.get("X-Cache", "")
            async for chunk in response.content.iter_any():
                now = time.perf_counter()
                if size == 0:
                    first_byte = now - started
                if now - last > max_gap:
                    max_gap, max_gap_at = now - last, size
                last = now
                hasher.update(chunk)
                size += len(chunk)
    except (TimeoutError, aiohttp.ClientError) as exc:
        error = repr(exc)
    return Timed(
        status, size, hasher.hexdigest(), x_cache, first_byte, max_gap, max_gap_at, time.perf_counter() - t0, error
    )


async def _timed_many(urls: Sequence[str]) -> tuple[list[Timed], float]:
    connector = aiohttp.TCPConnector(limit=0, force_close=True)
    timeout = aiohttp.ClientTimeout(total=None, sock_read=120)
    async with aiohttp.ClientSession(
        connector=connector, timeout=timeout, auto_decompress=False, read_bufsize=1 << 20
    ) as session:
        t0 = time.perf_counter()
        results = await asyncio.gather(*(timed_download(session, u, t0) for u in urls))
        return list(results), time.perf_counter() - t0


def timed_many(urls: Sequence[str]) -> tuple[list[Timed], float]:
    """Concurrent downloads by one aiohttp client process (this one). Returns results and wall time."""
    return asyncio.run(_timed_many(urls))
