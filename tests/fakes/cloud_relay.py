"""A counting relay in front of a cloud-storage emulator (fake-gcs-server, Azurite), real sockets.

It forwards every request byte for byte, records it, and can misbehave the way a broken path to a
store would: hold object bodies after their first ``GATE_AFTER`` bytes until a gate opens, flip bytes in transit
(``corrupt``), or cut a body short once after ``cut_after`` bytes, first running ``before_cut``
(e.g. to replace the object upstream, so that the resume meets another version).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import aiohttp
from aiohttp import web
from yarl import URL

GATE_AFTER = 64 * 1024
HOP = {"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailers",
       "transfer-encoding", "upgrade"}


@dataclass(frozen=True)
class Relayed:
    method: str
    raw_path: str
    headers: dict[str, str]
    status: int


@dataclass
class CloudRelay:
    target: str
    is_body: Callable[[str, str], bool]
    """Whether a (method, raw path) request downloads object bytes (the ones the knobs act on)."""
    requests: list[Relayed] = field(default_factory=list)
    gate: asyncio.Event | None = None
    corrupt: Callable[[bytes], bytes] | None = None
    cut_after: int | None = None
    before_cut: Callable[[], Awaitable[None]] | None = None
    _session: aiohttp.ClientSession | None = None

    def app(self) -> web.Application:
        app = web.Application(client_max_size=1 << 30)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        app.on_cleanup.append(self._close)
        return app

    async def _close(self, app: web.Application) -> None:
        if self._session is not None:
            await self._session.close()

    def bodies(self) -> list[Relayed]:
        """The object downloads relayed so far."""
        return [r for r in self.requests if self.is_body(r.method, r.raw_path)]

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        if self._session is None:
            self._session = aiohttp.ClientSession(auto_decompress=False, timeout=aiohttp.ClientTimeout(total=None))
        headers = {k: v for k, v in request.headers.items() if k.lower() not in HOP}
        body = await request.read()
        body_request = self.is_body(request.method, request.raw_path)
        async with self._session.request(
                request.method, URL(self.target + request.raw_path, encoded=True), headers=headers,
                data=body or None, allow_redirects=False,
                skip_auto_headers=("User-Agent", "Accept", "Accept-Encoding", "Content-Type")) as upstream:
            self.requests.append(Relayed(request.method, request.raw_path, headers, upstream.status))
            out = {k: v for k, v in upstream.headers.items() if k.lower() not in HOP}
            response = web.StreamResponse(status=upstream.status, headers=out)
            await response.prepare(request)
            sent = 0
            held = False
            async for chunk in upstream.content.iter_chunked(64 * 1024):
                if body_request and upstream.status in (200, 206):
                    if self.corrupt is not None:
                        chunk = self.corrupt(chunk)
                    if self.cut_after is not None and sent + len(chunk) > self.cut_after:
                        await response.write(chunk[:self.cut_after - sent])
                        self.cut_after = None
                        if self.before_cut is not None:
                            await self.before_cut()
                        assert request.transport is not None
                        request.transport.close()  # the body ends short: the proxy must resume
                        return response
                await response.write(chunk)
                sent += len(chunk)
                if not held and sent >= GATE_AFTER and self.gate is not None and body_request:
                    held = True
                    await self.gate.wait()
            await response.write_eof()
            return response


def flip_first_byte(chunk: bytes) -> bytes:
    """Corrupt a chunk in place of its first byte (same length: only a checksum can tell)."""
    return bytes([chunk[0] ^ 0xFF]) + chunk[1:] if chunk else chunk
