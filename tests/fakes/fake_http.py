"""A real HTTP upstream for tests: counts requests, and can throttle, pause, drop and lie."""

from __future__ import annotations

import asyncio
import base64
import hashlib
from dataclasses import dataclass, field

from aiohttp import web


@dataclass
class FakeObject:
    body: bytes
    etag: str | None = '"v1"'
    last_modified: str | None = "Tue, 03 Nov 2026 10:00:00 GMT"
    content_type: str = "application/octet-stream"
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    chunk: int = 64 * 1024
    gate: asyncio.Event | None = None
    """When set, the body pauses after its first chunk until the event is set."""
    drops: int = 0
    """How many responses close the connection after ``drop_after`` body bytes."""
    drop_after: int = 0
    etag_after_drop: str | None = None
    """The ETag the object has after a drop: it changed upstream in the middle of a download."""
    rate: float | None = None
    """Bytes per second per response (per connection), or None for as fast as possible."""
    ignore_range: bool = False
    """Answer every request with the whole object (200), as an upstream without Range support."""
    drop_at: int | None = None
    """The first ranged response whose range holds this byte closes the connection just before it (once)."""
    served: bytes | None = None
    """Bytes to send instead of ``body`` (a lying upstream); headers still describe ``body``."""
    chunked: bool = False
    """Send the body with chunked transfer encoding: no Content-Length, size unknown until the end."""
    finished: asyncio.Event = field(default_factory=asyncio.Event)
    """Set each time a response body has been sent in full."""

    def honest_sha256_header(self) -> None:
        digest = base64.b64encode(hashlib.sha256(self.body).digest()).decode()
        self.headers["Repr-Digest"] = f"sha-256=:{digest}:"


@dataclass(frozen=True)
class Recorded:
    method: str
    path: str
    headers: dict[str, str]


class FakeUpstream:
    def __init__(self) -> None:
        self.objects: dict[str, FakeObject] = {}
        self.requests: list[Recorded] = []
        self.app = web.Application()
        self.app.router.add_route("*", "/{path:.*}", self._handle)

    def add(self, path: str, body: bytes, **kwargs: object) -> FakeObject:
        obj = FakeObject(body, **kwargs)  # type: ignore[arg-type]
        self.objects[path] = obj
        return obj

    def count(self, path: str, method: str = "GET") -> int:
        return sum(1 for r in self.requests if r.path == path and r.method == method)

    def gets(self, path: str) -> list[Recorded]:
        return [r for r in self.requests if r.path == path and r.method == "GET"]

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        path = "/" + request.match_info["path"]
        self.requests.append(Recorded(request.method, request.path_qs, dict(request.headers)))
        obj = self.objects.get(path)
        if obj is None:
            return web.Response(status=404, text=f"no such object: {path}", headers={"X-Fake": "404"})
        if obj.status != 200:
            return web.Response(status=obj.status, text=f"status {obj.status} for {path}", headers=obj.headers)
        headers = {"Content-Type": obj.content_type, "Accept-Ranges": "bytes", **obj.headers}
        if obj.etag:
            headers["ETag"] = obj.etag
        if obj.last_modified:
            headers["Last-Modified"] = obj.last_modified
        inm = request.headers.get("If-None-Match")
        if inm is not None and obj.etag is not None and inm == obj.etag:
            return web.Response(status=304, headers={"ETag": obj.etag})
        data = obj.served if obj.served is not None else obj.body
        start, stop, status = 0, len(obj.body), 200
        rng = request.headers.get("Range")
        if_range = request.headers.get("If-Range")
        if rng and not obj.ignore_range and (if_range is None or if_range in (obj.etag, obj.last_modified)):
            first, _, last = rng.removeprefix("bytes=").partition("-")
            start = int(first)
            stop = min(stop, int(last) + 1) if last else stop
            status = 206
            headers["Content-Range"] = f"bytes {start}-{stop - 1}/{len(obj.body)}"
        response = web.StreamResponse(status=status, headers=headers)
        if obj.chunked:
            response.enable_chunked_encoding()
        else:
            response.content_length = stop - start
        await response.prepare(request)
        if request.method == "HEAD":
            await response.write_eof()
            return response
        await self._send(request, response, obj, data[:stop], start)
        return response

    async def _send(self, request: web.Request, response: web.StreamResponse, obj: FakeObject,
                    data: bytes, start: int) -> None:
        drop = obj.drops > 0
        if drop:
            obj.drops -= 1
        drop_after = obj.drop_after
        if obj.drop_at is not None and response.status == 206 and start < obj.drop_at < len(data):
            drop, drop_after, obj.drop_at = True, obj.drop_at, None
        pos, first = start, True
        loop = asyncio.get_running_loop()
        began = loop.time()
        while pos < len(data):
            end = min(pos + obj.chunk, len(data))
            if drop:
                end = min(end, drop_after)
                if pos >= drop_after:
                    assert request.transport is not None
                    if obj.etag_after_drop is not None:
                        obj.etag = obj.etag_after_drop
                    request.transport.close()  # a clean FIN after what was written: a short body
                    raise ConnectionResetError("fake upstream dropped the connection")
            await response.write(data[pos:end])
            pos = end
            if first and obj.gate is not None:
                first = False
                await obj.gate.wait()
            if obj.rate is not None:
                ahead = (pos - start) / obj.rate - (loop.time() - began)
                if ahead > 0:
                    await asyncio.sleep(ahead)
        await response.write_eof()
        obj.finished.set()
