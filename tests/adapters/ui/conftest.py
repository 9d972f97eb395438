"""The Hub emulator, to check that HF downloads still work with the dashboard mounted."""

from __future__ import annotations

import pytest

from tests.conftest import ServerFactory
from tests.fakes.fake_hub import FakeHub


@pytest.fixture
async def hub(aiohttp_server: ServerFactory) -> FakeHub:
    fake = FakeHub()
    cdn = await aiohttp_server(fake.cdn)
    fake.cdn_url = cdn.make_url("")
    server = await aiohttp_server(fake.app)
    fake.hub_url = server.make_url("")
    return fake
