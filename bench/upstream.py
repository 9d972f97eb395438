"""The local upstream: serves the files of one directory over HTTP, optionally throttled, and counts.

It runs in its own process (``python -m bench.upstream --root DIR --port N``) so that it does not
share a CPU or an event loop with the clients that measure. Endpoints:

* ``GET|HEAD /files/<name>[?rate=<bytes per second>]``: the file, with ``ETag``, ``Last-Modified``
  and single byte ranges (``Range``/``If-Range``, so the proxy can resume). Unthrottled bodies go
  out with sendfile(2), throttled ones in 256 KiB chunks paced to ``rate``.
* ``GET /_stats``: ``{"<path and query>": {"gets": n, "bytes": n}}``, every GET and every body
  byte handed to the kernel since start.
* ``GET /healthz``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import sys
import time
import urllib.request
from dataclasses import asdict, dataclass
from email.utils import formatdate
from pathlib import Path
from typing import BinaryIO

from aiohttp import web

from bench.process import ChildProcess, free_port, wait_http_ok

THROTTLED_CHUNK = 256 << 10
SENDFILE_CHUNK = 16 << 20
_RANGE = re.compile(r"bytes=(\d*)-(\d*)")


@dataclass
class Counter:
    gets: int = 0
    bytes: int = 0


STATS = web.AppKey("stats", dict[str, Counter])
ROOT = web.AppKey("root", Path)


def make_app(root: Path) -> web.Application:
    app = web.Application()
    app[ROOT] = root
    app[STATS] = {}
    app.router.add_get("/files/{name}", serve_file)  # HEAD too
    app.router.add_get("/_stats", stats)
    app.router.add_get("/healthz", healthz)
    return app


async def healthz(request: web.Request) -> web.Response:
    return web.Response(text="ok")


async def stats(request: web.Request) -> web.Response:
    return web.json_response({k: asdict(v) for k, v in request.app[STATS].items()})


def _byte_range(header: str | None, size: int) -> tuple[int, int] | None:
    """[start, end) for a single ``bytes=a-b`` range; None for no (or an unsupported) range."""
    match = _RANGE.fullmatch(header.strip()) if header else None
    if match is None or not (match[1] or match[2]):
        return None
    if not match[1]:
        return max(0, size - int(match[2])), size
    start = int(match[1])
    end = min(int(match[2]) + 1, size) if match[2] else size
    return (start, end) if start < end else None


async def serve_file(request: web.Request) -> web.StreamResponse:
    name = request.match_info["name"]
    path = request.app[ROOT] / name
    if name.startswith(".") or not path.is_file():
        raise web.HTTPNotFound()
    rate = float(request.query.get("rate", "0"))
    counter = request.app[STATS].setdefault(request.path_qs, Counter())
    if request.method == "GET":
        counter.gets += 1
    st = path.stat()
    etag = f'"{st.st_size:x}-{st.st_mtime_ns:x}"'
    headers = {
        "ETag": etag,
        "Last-Modified": formatdate(st.st_mtime, usegmt=True),
        "Accept-Ranges": "bytes",
        "Content-Type": "application/octet-stream",
    }
    start, end, status = 0, st.st_size, 200
    if_range = request.headers.get("If-Range")
    wanted = _byte_range(request.headers.get("Range"), st.st_size)
    if wanted is not None and (if_range is None or if_range == etag or if_range == headers["Last-Modified"]):
        start, end, status = wanted[0], wanted[1], 206
        headers["Content-Range"] = f"bytes {start}-{end - 1}/{st.st_size}"
    response = web.StreamResponse(status=status, headers=headers)
    response.content_length = end - start
    await response.prepare(request)
    if request.method == "HEAD" or end == start:
        await response.write_eof()
        return response
    with open(path, "rb") as f:
        if rate > 0:
            await _send_throttled(response, f.fileno(), start, end, rate, counter)
        else:
            await _send_sendfile(request, f, start, end, counter)
    await response.write_eof()
    return response


async def _send_throttled(
    response: web.StreamResponse, fd: int, start: int, end: int, rate: float, counter: Counter
) -> None:
    began = time.monotonic()
    pos = start
    while pos < end:
        data = os.pread(fd, min(THROTTLED_CHUNK, end - pos), pos)  # page cache: microseconds
        if not data:
            raise ConnectionAbortedError("file shrank")
        await response.write(data)
        pos += len(data)
        counter.bytes += len(data)
        delay = began + (pos - start) / rate - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)


async def _send_sendfile(request: web.Request, f: BinaryIO, start: int, end: int, counter: Counter) -> None:
    transport = request.transport
    if transport is None:
        raise ConnectionResetError("client went away")
    loop = asyncio.get_running_loop()
    pos = start
    while pos < end:
        count = min(SENDFILE_CHUNK, end - pos)
        sent = await loop.sendfile(transport, f, pos, count)
        pos += sent
        counter.bytes += sent


class Upstream:
    """The upstream as a child process; ``url(name, rate)`` addresses a file, ``stats()`` reads counts."""

    def __init__(self, root: Path, logdir: Path) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        argv = [sys.executable, "-m", "bench.upstream", "--root", str(root), "--port", str(self.port)]
        self.child = ChildProcess("upstream", argv, logdir / "upstream.log", cwd=Path(__file__).parent.parent)
        try:
            wait_http_ok(f"{self.base}/healthz", self.child)
        except BaseException:
            self.child.stop()
            raise

    def url(self, name: str, rate: float | None = None) -> str:
        return f"{self.base}/files/{name}" + (f"?rate={rate:.0f}" if rate else "")

    def stats(self) -> dict[str, Counter]:
        with urllib.request.urlopen(f"{self.base}/_stats", timeout=5) as response:
            raw = json.loads(response.read())
        return {k: Counter(**v) for k, v in raw.items()}

    def counter(self, url: str) -> Counter:
        """The counts of one URL returned by ``url`` (zero if never requested)."""
        return self.stats().get(url.removeprefix(self.base), Counter())

    def stop(self) -> None:
        self.child.stop()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.upstream", description=__doc__)
    parser.add_argument("--root", type=Path, required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args(argv)
    web.run_app(make_app(args.root), host=args.host, port=args.port, print=None, access_log=None)


if __name__ == "__main__":
    main()
