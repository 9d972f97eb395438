"""The HF ``/api`` pass-through never leaves ``--hf-endpoint``: crafted request targets (absolute
form, encoded dot segments, ``@``, backslashes) get a 4xx, and a second Hub, the one an attacker
would aim at, receives nothing (so a client's token never travels there)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest

from tests.conftest import Proxy, ServerFactory
from tests.fakes.fake_hub import FakeHub
from tests.raw_http import raw_request

CLIENT_TOKEN = "hf_client_secret"


async def raw_get(proxy: Proxy, target: str) -> int:
    """Send ``GET <target>`` exactly as written (a client library would normalise it); the status."""
    host, port = proxy.server.host, proxy.server.port
    head = f"GET {target} HTTP/1.1\r\nHost: {host}:{port}\r\nAuthorization: Bearer {CLIENT_TOKEN}"
    return (await raw_request(host, port, head.encode())).status


@pytest.fixture
async def evil(aiohttp_server: ServerFactory) -> FakeHub:
    fake = FakeHub()
    fake.hub_url = (await aiohttp_server(fake.app)).make_url("")
    return fake


TARGETS = [
    "http://{evil}/api/models/org/model",
    "http://{evil}/api/models/org/model/revision/main",
    "//{evil}/api/models/org/model",
    "/api/..%2f..%2f@{evil}/api/models/org/model",
    "/api/%2e%2e/%2e%2e/api/models/org/model",
    "/api/models/..%2F..%2F..%2Fadmin",
    "/api/models/org/model/tree/main/%2e%2e%2f%2e%2e",
    "/api/@{evil}/models/org/model",
    "/api/models\\@{evil}/org/model",
    "/api/models/org%5c..%5c..%5cx/model",
]


@pytest.mark.parametrize("target", TARGETS)
async def test_crafted_api_targets_never_reach_another_host(
        hf_proxy: Callable[..., Awaitable[Proxy]], hub: FakeHub, evil: FakeHub, target: str) -> None:
    hub.create("org/model").commit({"config.json": b"{}"})
    hub.tokens[CLIENT_TOKEN] = set()
    proxy = await hf_proxy()
    status = await raw_get(proxy, target.format(evil=f"{evil.hub_url.host}:{evil.hub_url.port}"))
    assert 400 <= status < 500, f"{target}: {status}"
    assert evil.requests == [], "the other host got nothing (and no client token)"
    for _, path in hub.requests:
        assert ".." not in path.split("?")[0].replace("%2e", ".").replace("%2E", ".").split("/")
        assert "\\" not in path

