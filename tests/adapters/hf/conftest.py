"""Fixtures for the HF adapter: the Hub emulator (hub + CDN servers) and a proxy pointed at it."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from tests.conftest import Proxy, ServerFactory
from tests.fakes.fake_hub import FakeHub


@pytest.fixture
async def hub(aiohttp_server: ServerFactory) -> FakeHub:
    fake = FakeHub()
    cdn = await aiohttp_server(fake.cdn)
    fake.cdn_url = cdn.make_url("")
    server = await aiohttp_server(fake.app)
    fake.hub_url = server.make_url("")
    return fake


@pytest.fixture
def hf_proxy(start_proxy: Callable[..., Awaitable[Proxy]], hub: FakeHub) -> Callable[..., Awaitable[Proxy]]:
    async def start(**overrides: Any) -> Proxy:
        return await start_proxy(hf_endpoint=str(hub.hub_url), **overrides)

    return start
