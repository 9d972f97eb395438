"""Client connections under load and abuse: a cap per process, idle connections evicted first, and
request bodies that stop arriving cut off.

aiohttp already closes a connection that sends no complete request head within its keep-alive
timeout (the timer starts when the connection is made), so ``--idle-timeout`` bounds both idle
keep-alive connections and heads sent a byte at a time. What it does not do, and this module
adds:

* a cap on open connections (``--max-connections``; by default half the process's file
  descriptor limit, so fills, blobs and upstream sockets always find descriptors). At the cap a new
  connection makes room by closing the longest-idle connection (one with no request in progress:
  a half-open socket or a trickled head); only when every connection is busy with a request is the
  new one refused with a bare ``503``. So ``/healthz`` keeps answering while hundreds of slow
  sockets are held, and accept never hits ``EMFILE``.
* a body watchdog: a request whose body makes no progress for ``--body-idle-timeout`` seconds has
  its connection closed (the handler's read fails; nothing is cached from a cut body).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import resource
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from aiohttp.web_protocol import RequestHandler

from proxy.observe.metrics import Metrics

log = logging.getLogger(__name__)

BACKLOG = 1024
"""Pending connections the kernel queues on each listener: a herd of pods connects at once."""
REFUSAL = (b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n"
           b"Retry-After: 1\r\n\r\n")
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def default_limit() -> int:
    """Half the soft descriptor limit: the other half is for blobs, temp files and upstreams."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    return max(64, soft // 2) if soft != resource.RLIM_INFINITY else 65536


class ConnectionGuard:
    def __init__(self, limit: int, body_idle_timeout: float, metrics: Metrics,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.limit = limit
        self.body_idle_timeout = body_idle_timeout
        self.metrics = metrics
        self.clock = clock
        self._opened: dict[asyncio.Transport, float] = {}
        """Open connections in the order they were made, with when they last finished a request."""
        self._handlers: dict[RequestHandler, asyncio.Transport] = {}
        self._busy: dict[asyncio.BaseTransport, int] = {}
        """Connections with a request in progress (pipelined requests count twice)."""
        self._changed = asyncio.Event()

    def __len__(self) -> int:
        return len(self._opened)

    @property
    def busy(self) -> int:
        """Connections with a request in progress."""
        return len(self._busy)

    async def until(self, condition: Callable[[ConnectionGuard], bool]) -> None:
        """Wait until ``condition`` holds (checked whenever a connection opens, closes, starts or
        ends a request): for status pages and tests."""
        while not condition(self):
            await self._changed.wait()

    def _notify(self) -> None:
        event, self._changed = self._changed, asyncio.Event()
        event.set()

    def attach(self, server: web.Server) -> None:
        """Watch the connections ``server`` (the runner's protocol factory) makes and loses."""
        made, lost = server.connection_made, server.connection_lost

        def connection_made(handler: RequestHandler, transport: asyncio.Transport) -> None:
            made(handler, transport)
            self._handlers[handler] = transport
            self._admit(transport)

        def connection_lost(handler: RequestHandler, exc: BaseException | None = None) -> None:
            transport = self._handlers.pop(handler, None)
            if transport is not None:
                self._forget(transport)
            lost(handler, exc)

        server.connection_made = connection_made  # type: ignore[method-assign]
        server.connection_lost = connection_lost  # type: ignore[method-assign]

    def _admit(self, transport: asyncio.Transport) -> None:
        if len(self._opened) >= self.limit:
            idle = next((t for t in self._opened if t not in self._busy), None)
            if idle is None:
                self.metrics.connections_refused.labels("limit").inc()
                transport.write(REFUSAL)
                transport.close()
                return
            self.metrics.connections_refused.labels("evicted_idle").inc()
            self._forget(idle)
            idle.abort()
        self._opened[transport] = self.clock()
        self._notify()

    def _forget(self, transport: asyncio.Transport) -> None:
        self._opened.pop(transport, None)
        self._busy.pop(transport, None)
        self._notify()

    @web.middleware
    async def middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        transport = request.transport
        if transport is None:
            return await handler(request)
        self._busy[transport] = self._busy.get(transport, 0) + 1
        self._notify()
        watchdog = asyncio.create_task(self._watch_body(request, transport)) if request.body_exists else None
        try:
            return await handler(request)
        finally:
            if watchdog is not None:
                watchdog.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await watchdog
            if transport in self._busy:
                self._busy[transport] -= 1
                if self._busy[transport] <= 0:
                    del self._busy[transport]
                    if transport in self._opened:  # idle again: it moves to the end of the eviction order
                        del self._opened[transport]
                        self._opened[transport] = self.clock()
                    self._notify()

    async def _watch_body(self, request: web.Request, transport: asyncio.BaseTransport) -> None:
        content = request.content
        seen, since = content.total_bytes, self.clock()
        while not content.is_eof():
            await asyncio.sleep(min(1.0, self.body_idle_timeout / 4))
            if content.total_bytes != seen:
                seen, since = content.total_bytes, self.clock()
            elif self.clock() - since >= self.body_idle_timeout:
                self.metrics.connections_refused.labels("body_timeout").inc()
                log.warning("request body stalled: connection closed", extra={
                    "path": request.path, "received": seen, "idle_seconds": self.body_idle_timeout})
                transport.close()
                return


@dataclass(frozen=True, slots=True)
class ListenPolicy:
    """How every listener of the process admits connections, the main port's and an adapter's
    own (S3's ``--s3-port``): one guard (one cap for all, idle connections make room, stalled
    bodies are cut), the idle timeout for keep-alive and trickled heads, one listen backlog."""

    guard: ConnectionGuard
    idle_timeout: float
    backlog: int = BACKLOG

    def application(self, **kwargs: Any) -> web.Application:
        """An application whose requests the guard sees (busy connections are never evicted)."""
        return web.Application(middlewares=[self.guard.middleware], **kwargs)

    async def runner(self, app: web.Application, **kwargs: Any) -> web.AppRunner:
        """A set-up runner for ``app`` whose connections the guard admits."""
        runner = web.AppRunner(app, **runner_options(self.idle_timeout), **kwargs)
        await runner.setup()
        assert runner.server is not None
        self.guard.attach(runner.server)
        return runner


def runner_options(idle_timeout: float) -> dict[str, Any]:
    """Keyword arguments for aiohttp's runner: the keep-alive timer bounds idle connections and
    trickled request heads alike."""
    return {"keepalive_timeout": idle_timeout}
