"""Hostile input on the HF routes gets the Hub's 4xx (with X-Error-Message), never a 500."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest

from tests.conftest import Proxy
from tests.fakes.fake_hub import FakeHub
from tests.raw_http import raw_request


@pytest.fixture
async def proxy_with_file(hf_proxy: Callable[..., Awaitable[Proxy]], hub: FakeHub) -> Proxy:
    hub.create("org/model").commit({"config.json": b'{"a": 1}'})
    return await hf_proxy()


async def test_a_token_that_is_not_ascii_is_refused_with_401(proxy_with_file: Proxy, hub: FakeHub) -> None:
    server = proxy_with_file.server
    for path in (b"/org/model/resolve/main/config.json", b"/api/models/org/model"):
        answer = await raw_request(server.host, server.port, b"GET " + path + b" HTTP/1.1\r\nHost: proxy\r\n"
                                   b"Authorization: Bearer hf_\xff\xfe\xc3\x28")
        assert answer.status == 401, answer
        assert answer.headers["X-Error-Message"] == "Invalid credentials in Authorization header"
    assert hub.requests == [], "a token that cannot be forwarded never reaches the Hub"


@pytest.mark.parametrize("headers", [
    b"Range: bytes=" + b"9" * 5000 + b"-",
    b"Range: bytes=0-" + b"9" * 5000,
    b"If-Modified-Since: Wed, 21 Oct 2015 07:28:00 -0000",
    b"If-Unmodified-Since: Wed, 21 Oct 2015 07:28:00 -0000",
])
async def test_odd_ranges_and_dates_never_fail_the_request(proxy_with_file: Proxy, headers: bytes) -> None:
    server = proxy_with_file.server
    answer = await raw_request(server.host, server.port, b"GET /org/model/resolve/main/config.json HTTP/1.1\r\n"
                               b"Host: proxy\r\n" + headers)
    assert answer.status in (200, 206, 304, 412, 416), answer
    if answer.status == 200:
        assert answer.body == b'{"a": 1}'
