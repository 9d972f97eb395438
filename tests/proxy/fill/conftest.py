"""The fill room on real parts: a fake upstream on a loopback socket, fetched through the HTTP
adapter's source; a real blob store and index on ``tmp_path``; a coordinator per node."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from aiohttp import ClientSession
from aiohttp.test_utils import TestServer
from yarl import URL

from adapters.http.target import HostAllowList
from adapters.http.upstream import HttpSource
from proxy.cluster.embedded import EmbeddedCoordinator
from proxy.cluster.port import Coordinator, Node, key_id
from proxy.cluster.redis_backend import RedisCoordinator
from proxy.fill.context import FillContext, FillPolicy
from proxy.fill.state import Fill
from proxy.observe.metrics import Metrics
from proxy.storage.blobstore import FsBlobStore
from proxy.storage.index import Index
from proxy.storage.layout import Layout
from tests.cluster.conftest import RedisServer, need_redis
from tests.conftest import ServerFactory
from tests.fakes.fake_http import FakeUpstream

ALLOW = HostAllowList(("127.0.0.1",))


@dataclass
class Upstream:
    fake: FakeUpstream
    base: URL
    session: ClientSession

    def source(self, path: str) -> HttpSource:
        return HttpSource(self.base / path.lstrip("/"), self.session, ALLOW)


@pytest.fixture
async def upstream(aiohttp_server: ServerFactory) -> AsyncIterator[Upstream]:
    fake = FakeUpstream()
    server: TestServer = await aiohttp_server(fake.app)
    async with ClientSession(auto_decompress=False) as session:
        yield Upstream(fake, server.make_url(""), session)
        for obj in fake.objects.values():  # never leave a paused upstream handler behind
            if obj.gate is not None:
                obj.gate.set()


def node_context(cache: Path, coordinator: Coordinator, policy: FillPolicy | None = None,
                 clock: Callable[[], float] = time.time) -> FillContext:
    """What one node's fills work with, on the cache volume ``cache`` (shared by every node)."""
    node_id = coordinator.node.node_id
    store = FsBlobStore(Layout(cache), node_id)
    return FillContext(store, Index(store.layout, node_id), Metrics(), policy or FillPolicy(backoff=0.01),
                       coordinator, clock)


@pytest.fixture
def ctx(tmp_path: Path) -> FillContext:
    """A single node with the in-process coordinator."""
    return node_context(tmp_path / "cache", EmbeddedCoordinator(Node("a", "http://a:8080")))


def temp_files(ctx: FillContext) -> list[Path]:
    tmp = ctx.store.layout.root / "tmp"
    return sorted(p for p in tmp.rglob("*") if p.is_file()) if tmp.exists() else []


async def read_until(fill: Fill, offset: int) -> None:
    """Return once the fill has the bytes before ``offset`` (a reader's wait, no polling)."""
    async for _ in fill.read(0, offset):
        pass


def counted(ctx: FillContext, name: str) -> float:
    """A metric of the node, by name without the prefix (``fills_failed``: its ``_total``)."""
    return ctx.metrics.value(f"modelmanager_{name}")


async def collect(fill: Fill) -> bytes:
    return b"".join([chunk async for chunk in fill.read(0, None)])


def reader(fill: Fill) -> asyncio.Task[bytes]:
    """A reader of the whole object, from now until the fill ends."""
    return asyncio.create_task(collect(fill), name=f"reader of {fill.key}")


@dataclass
class TwoNodes:
    """Nodes ``a`` and ``b`` on one cache volume, coordinated through a real redis-server."""

    a: FillContext
    b: FillContext
    server: RedisServer

    async def lapse(self, key: str) -> None:
        """The key's lease expires now (what PX does when the time is up)."""
        await self.server.command("DEL", f"mm:lease:{key_id(key)}")


@pytest.fixture
async def two_nodes(tmp_path: Path) -> AsyncIterator[TwoNodes]:
    need_redis()
    server = RedisServer(tmp_path)
    await server.start()
    coordinators = [RedisCoordinator(server.url, Node(name, f"http://{name}:8080")) for name in ("a", "b")]
    try:
        for coordinator in coordinators:
            await coordinator.start()
        policy = FillPolicy(backoff=0.01, lease_ttl=10.0)  # leases lapse when a test says so
        a, b = (node_context(tmp_path / "cache", c, policy) for c in coordinators)
        yield TwoNodes(a, b, server)
    finally:
        for coordinator in coordinators:
            await coordinator.close()
        await server.kill()
