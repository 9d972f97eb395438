"""Shared fixtures: a fake upstream, the Hub emulator and the proxy, real aiohttp servers on loopback sockets."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp import ClientSession, ClientTimeout, TCPConnector
from aiohttp.test_utils import TestServer
from yarl import URL

from proxy.__main__ import build_app
from proxy.config import ENV_PREFIX, Settings
from tests.fakes.fake_http import FakeUpstream
from tests.fakes.fake_hub import FakeHub

# The CPU inductor compiles of these tests exercise compiler caches, not kernels: scalar kernels,
# one compile thread and no precompiled header make each compile about 3x faster on 2 cores.
# Build children, probes and bench scripts inherit them; a variable already set is kept.
for _name, _value in (("TORCHINDUCTOR_VEC_ISA_OK", "0"), ("TORCHINDUCTOR_COMPILE_THREADS", "1"),
                      ("TORCHINDUCTOR_CPP_CACHE_PRECOMPILE_HEADERS", "0")):
    os.environ.setdefault(_name, _value)

ServerFactory = Callable[..., Awaitable[TestServer]]
ADMIN_TOKEN = "test-admin-token"
"""The admin token every test proxy runs with (tests of the control API send it, see tests/control.py)."""
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Settings read MODELMANAGER_* variables; tests start from none."""
    for name in list(os.environ):
        if name.startswith(ENV_PREFIX):
            monkeypatch.delenv(name)


@pytest.fixture
def cache_dir(tmp_path: Path) -> Path:
    return tmp_path / "cache"


@pytest.fixture
def make_settings(cache_dir: Path) -> Callable[..., Settings]:
    def make(**overrides: Any) -> Settings:
        values: dict[str, Any] = {"cache_dir": cache_dir, "node_id": "test-node", "http_allow": ("127.0.0.1",),
                                  "log_level": "warning", "admin_token": ADMIN_TOKEN}
        values.update(overrides)
        return Settings(**values)

    return make


@pytest.fixture
async def upstream(aiohttp_server: ServerFactory) -> AsyncIterator[tuple[FakeUpstream, URL]]:
    fake = FakeUpstream()
    server = await aiohttp_server(fake.app)
    yield fake, server.make_url("")
    for obj in fake.objects.values():  # never leave a paused upstream handler behind
        if obj.gate is not None:
            obj.gate.set()


class Proxy:
    """A running proxy app and a client session to it."""

    def __init__(self, server: TestServer, session: ClientSession) -> None:
        self.server = server
        self.session = session
        self.app = server.app

    def fetch_url(self, upstream_url: URL | str) -> URL:
        return self.server.make_url("/v1/fetch").with_query(url=str(upstream_url))


@pytest.fixture
async def start_proxy(aiohttp_server: ServerFactory, make_settings: Callable[..., Settings]
                      ) -> AsyncIterator[Callable[..., Awaitable[Proxy]]]:
    """Start a proxy app with settings overrides; its client session closes with the test."""
    sessions: list[ClientSession] = []

    async def start(**overrides: Any) -> Proxy:
        server = await aiohttp_server(build_app(make_settings(**overrides)))
        session = ClientSession(connector=TCPConnector(limit=0), timeout=ClientTimeout(total=120),
                                auto_decompress=False)
        sessions.append(session)
        return Proxy(server, session)

    yield start
    for session in sessions:
        await session.close()


@pytest.fixture
async def proxy(start_proxy: Callable[..., Awaitable[Proxy]]) -> Proxy:
    return await start_proxy()


@pytest.fixture
async def hub(aiohttp_server: ServerFactory) -> FakeHub:
    """The Hub emulator: its API server and its CDN origin for LFS files, each on its own socket."""
    fake = FakeHub()
    fake.cdn_url = (await aiohttp_server(fake.cdn)).make_url("")
    fake.hub_url = (await aiohttp_server(fake.app)).make_url("")
    return fake


@pytest.fixture
def hf_proxy(start_proxy: Callable[..., Awaitable[Proxy]], hub: FakeHub) -> Callable[..., Awaitable[Proxy]]:
    """Start a proxy whose --hf-endpoint is the Hub emulator."""
    async def start(**overrides: Any) -> Proxy:
        return await start_proxy(hf_endpoint=str(hub.hub_url), **overrides)

    return start
