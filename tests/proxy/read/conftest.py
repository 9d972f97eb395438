"""A proxy whose only frontend reads the fake upstream through the core's facade, with a minimal
error table of its own: ``GET|HEAD /read/<path>?max_age=<seconds>`` (``Core.serve``), and
``HEAD /peek/<path>`` (``Core.head``, which never fetches: on a miss it answers from ``PEEK_META``)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import Any

import pytest
from aiohttp import ClientSession, web
from multidict import CIMultiDict
from yarl import URL

from proxy import appkeys
from proxy.app import make_app
from proxy.config import Settings
from proxy.errors import Answered, PreconditionFailed, ProxyError, RangeNotSatisfiable, Unmodified, UpstreamRejected
from proxy.read.core import Core, ReadPolicy
from proxy.upstream import ObjectMeta, Validators
from tests.conftest import Proxy, ServerFactory
from tests.fakes.fake_http import FakeUpstream
from tests.fakes.source import FakeSource

PEEK_META = ObjectMeta(size=3, validators=Validators(etag='"from-the-adapter"'))
ANSWERED = {Unmodified: 304, PreconditionFailed: 412, RangeNotSatisfiable: 416}


class ReadFrontend:
    name = "test"
    core: Core

    def __init__(self, upstream: URL) -> None:
        self.upstream = upstream
        self.fetching = asyncio.Event()
        """Set when the core asks the upstream for an object."""
        self.served: asyncio.Queue[int] = asyncio.Queue()
        """The status of each answer, once ``Core.serve`` has returned (its reader is released)."""

    def setup(self, app: web.Application, core: Core) -> None:
        self.core = core
        app.router.add_get("/read/{path:.*}", self.read)
        app.router.add_route("HEAD", "/peek/{path:.*}", self.peek)

    def source(self, request: web.Request) -> FakeSource:
        return FakeSource(self.core.session, self.upstream / request.match_info["path"], self.fetching)

    async def read(self, request: web.Request) -> web.StreamResponse:
        max_age = request.query.get("max_age")
        policy = ReadPolicy(self.name, max_age=float(max_age) if max_age is not None else None)
        return await self.answer(self.core.serve(request, self.source(request), policy))

    async def peek(self, request: web.Request) -> web.StreamResponse:
        key = self.source(request).key
        return await self.answer(self.core.head(request, key, PEEK_META, ReadPolicy(self.name)))

    async def answer(self, serving: Awaitable[web.StreamResponse]) -> web.StreamResponse:
        response: web.StreamResponse
        try:
            response = await serving
        except Answered as exc:
            response = web.Response(status=ANSWERED[type(exc)], headers=exc.headers)
        except UpstreamRejected as exc:
            response = web.Response(status=exc.status, body=exc.body)
        except ProxyError as exc:
            response = web.Response(status=502, headers={"X-Error": type(exc).__name__})
        self.served.put_nowait(response.status)
        return response


class ReadProxy(Proxy):
    def __init__(self, proxy: Proxy, frontend: ReadFrontend, fake: FakeUpstream) -> None:
        super().__init__(proxy.server, proxy.session)
        self.frontend = frontend
        self.fake = fake

    def url(self, path: str, **query: str) -> URL:
        return self.server.make_url(f"/read{path}").with_query(query)

    async def get(self, path: str, headers: Mapping[str, str] = {}, *, method: str = "GET",
                  max_age: float | None = None) -> tuple[int, CIMultiDict[str], bytes]:
        query = {"max_age": str(max_age)} if max_age is not None else {}
        async with self.session.request(method, self.url(path, **query), headers=headers) as r:
            return r.status, CIMultiDict(r.headers), await r.read()

    @property
    def readers(self) -> int:
        return len(self.app[appkeys.CACHE].readers)


@pytest.fixture
async def read_proxy(aiohttp_server: ServerFactory, make_settings: Callable[..., Settings],
                     upstream: tuple[FakeUpstream, URL]) -> AsyncIterator[Callable[..., Awaitable[ReadProxy]]]:
    """Start a proxy with only ``ReadFrontend``, with settings overrides."""
    fake, base = upstream
    sessions: list[ClientSession] = []

    async def start(**overrides: Any) -> ReadProxy:
        frontend = ReadFrontend(base)
        server = await aiohttp_server(make_app(make_settings(**overrides), [frontend]))
        session = ClientSession(auto_decompress=False)
        sessions.append(session)
        return ReadProxy(Proxy(server, session), frontend, fake)

    yield start
    for session in sessions:
        await session.close()
