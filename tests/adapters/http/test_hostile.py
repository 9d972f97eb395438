"""Hostile input on /v1/fetch gets a 4xx with a JSON error, never a 500."""

from __future__ import annotations

import pytest
from yarl import URL

from tests.conftest import Proxy
from tests.fakes.fake_http import FakeUpstream
from tests.raw_http import raw_request


@pytest.mark.parametrize("target", [b"http://[::1/x", b"http://127.0.0.1:99999999999/x", b"http://%5B::1/x"])
async def test_urls_that_do_not_parse_are_400(proxy: Proxy, target: bytes) -> None:
    server = proxy.server
    answer = await raw_request(server.host, server.port, b"GET /v1/fetch?url=" + target + b" HTTP/1.1\r\nHost: p")
    assert answer.status == 400, answer


@pytest.mark.parametrize("headers", [
    b"Range: bytes=" + b"1" * 5000 + b"-",
    b"Range: bytes=-" + b"1" * 5000,
    b"If-Modified-Since: Wed, 21 Oct 2015 07:28:00 -0000",
])
async def test_odd_ranges_and_dates_are_answered(proxy: Proxy, upstream: tuple[FakeUpstream, URL],
                                                 headers: bytes) -> None:
    fake, base = upstream
    fake.add("/f.bin", b"x" * 1000, last_modified="Wed, 21 Oct 2015 07:28:00 GMT")
    server = proxy.server
    url = str(base / "f.bin").encode()
    for _ in range(2):  # a miss, then a hit
        answer = await raw_request(server.host, server.port, b"GET /v1/fetch?url=" + url + b" HTTP/1.1\r\n"
                                   b"Host: p\r\n" + headers)
        assert answer.status in (200, 206, 304, 416), answer
        if answer.status in (200, 206):
            assert set(answer.body) <= {ord("x")}
