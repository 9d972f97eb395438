"""Revalidation of generic-HTTP entries with upstream validators, and stale-if-error."""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable

from yarl import URL

from tests.adapters.http.test_fetch import get
from tests.conftest import Proxy
from tests.fakes.fake_http import FakeUpstream

ProxyFactory = Callable[..., Awaitable[Proxy]]


async def test_fresh_entries_are_not_revalidated(start_proxy: ProxyFactory, upstream: tuple[FakeUpstream, URL]) -> None:
    proxy = await start_proxy(http_revalidate_after=3600)
    fake, base = upstream
    fake.add("/f.bin", b"fresh")
    for _ in range(3):
        assert (await get(proxy, base / "f.bin"))[1] == b"fresh"
    assert len(fake.requests) == 1


async def test_stale_entry_revalidates_with_etag_and_304_keeps_the_blob(
        start_proxy: ProxyFactory, upstream: tuple[FakeUpstream, URL]) -> None:
    proxy = await start_proxy(http_revalidate_after=0)
    fake, base = upstream
    body = os.urandom(100_000)
    fake.add("/v.bin", body)
    assert (await get(proxy, base / "v.bin"))[1] == body
    status, got, headers = await get(proxy, base / "v.bin")
    assert (status, got, headers["X-Cache"]) == (200, body, "revalidated")
    second = fake.gets("/v.bin")[1]
    assert second.headers["If-None-Match"] == '"v1"'
    assert second.headers["If-Modified-Since"] == "Tue, 03 Nov 2026 10:00:00 GMT"


async def test_changed_upstream_object_is_refetched(start_proxy: ProxyFactory,
                                                    upstream: tuple[FakeUpstream, URL]) -> None:
    proxy = await start_proxy(http_revalidate_after=0)
    fake, base = upstream
    fake.add("/c.bin", b"version one")
    assert (await get(proxy, base / "c.bin"))[1] == b"version one"
    fake.add("/c.bin", b"version two", etag='"v2"')
    status, got, headers = await get(proxy, base / "c.bin")
    assert (status, got, headers["ETag"]) == (200, b"version two", '"v2"')


async def test_upstream_down_serves_the_stale_copy(start_proxy: ProxyFactory,
                                                   upstream: tuple[FakeUpstream, URL]) -> None:
    proxy = await start_proxy(http_revalidate_after=0)
    fake, base = upstream
    fake.add("/s.bin", b"still here")
    assert (await get(proxy, base / "s.bin"))[1] == b"still here"
    fake.objects["/s.bin"].status = 503
    status, got, headers = await get(proxy, base / "s.bin")
    assert (status, got, headers["X-Cache"]) == (200, b"still here", "stale")


async def test_upstream_gone_is_passed_through_but_the_blob_is_kept(
        start_proxy: ProxyFactory, upstream: tuple[FakeUpstream, URL]) -> None:
    proxy = await start_proxy(http_revalidate_after=0)
    fake, base = upstream
    fake.add("/g.bin", b"soon gone")
    assert (await get(proxy, base / "g.bin"))[1] == b"soon gone"
    del fake.objects["/g.bin"]
    assert (await get(proxy, base / "g.bin"))[0] == 404
    fake.add("/g.bin", b"soon gone")  # back, same validators: a 304 revalidation serves our copy
    status, got, headers = await get(proxy, base / "g.bin")
    assert (status, got, headers["X-Cache"]) == (200, b"soon gone", "revalidated")
