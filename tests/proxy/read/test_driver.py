"""The read driver through the core's facade, over real sockets: hit, miss, coalesced, revalidated,
stale-if-error, rejection, the reader's hold on the blob for exactly as long as it reads, and HEADs
that never start a fill."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from proxy import appkeys
from tests.proxy.read.conftest import ReadProxy

Start = Callable[..., Awaitable[ReadProxy]]
BODY = bytes(range(256)) * 1024


async def test_miss_then_hit_fetches_once(read_proxy: Start) -> None:
    proxy = await read_proxy()
    proxy.fake.add("/a.bin", BODY)
    first = await proxy.get("/a.bin")
    second = await proxy.get("/a.bin")
    assert (first[0], first[1]["X-Cache"], first[2]) == (200, "miss", BODY)
    assert (second[0], second[1]["X-Cache"], second[2]) == (200, "hit", BODY)
    assert proxy.fake.count("/a.bin") == 1
    assert proxy.app[appkeys.METRICS].value("modelmanager_requests_total", adapter="test", outcome="hit") == 1


async def test_concurrent_reader_joins_the_running_fill(read_proxy: Start) -> None:
    proxy = await read_proxy()
    obj = proxy.fake.add("/c.bin", BODY, chunk=4096)
    obj.gate = gate = asyncio.Event()
    async with proxy.session.get(proxy.url("/c.bin")) as first:
        await proxy.frontend.fetching.wait()
        async with proxy.session.get(proxy.url("/c.bin")) as second:
            # both have their headers while the upstream is paused: both tail the one fill
            assert (first.headers["X-Cache"], second.headers["X-Cache"]) == ("miss", "coalesced")
            assert proxy.readers == 2
            gate.set()
            assert (await first.read(), await second.read()) == (BODY, BODY)
    assert [await proxy.frontend.served.get() for _ in range(2)] == [200, 200]
    assert proxy.readers == 0  # each reader was released when its answer ended
    assert proxy.fake.count("/c.bin") == 1


async def test_expired_entry_is_revalidated(read_proxy: Start) -> None:
    proxy = await read_proxy()
    proxy.fake.add("/r.bin", b"same bytes")
    assert (await proxy.get("/r.bin", max_age=0))[1]["X-Cache"] == "miss"
    status, headers, body = await proxy.get("/r.bin", max_age=0)
    assert (status, headers["X-Cache"], body) == (200, "revalidated", b"same bytes")
    assert proxy.fake.gets("/r.bin")[1].headers["If-None-Match"] == '"v1"'


async def test_revalidation_that_finds_a_new_version_fetches_it(read_proxy: Start) -> None:
    proxy = await read_proxy()
    obj = proxy.fake.add("/n.bin", b"old")
    await proxy.get("/n.bin", max_age=0)
    obj.body, obj.etag = b"new version", '"v2"'
    status, headers, body = await proxy.get("/n.bin", max_age=0)
    assert (status, headers["X-Cache"], headers["ETag"], body) == (200, "miss", '"v2"', b"new version")


async def test_unavailable_upstream_serves_the_stale_copy(read_proxy: Start) -> None:
    proxy = await read_proxy()
    obj = proxy.fake.add("/s.bin", b"kept")
    await proxy.get("/s.bin", max_age=0)
    obj.status = 503
    status, headers, body = await proxy.get("/s.bin", max_age=0)
    assert (status, headers["X-Cache"], body) == (200, "stale", b"kept")


async def test_rejection_is_raised_and_never_cached(read_proxy: Start) -> None:
    proxy = await read_proxy()
    for _ in range(2):
        status, _, body = await proxy.get("/missing.bin")
        assert (status, body) == (404, b"no such object: /missing.bin")
    assert proxy.fake.count("/missing.bin") == 2
    assert proxy.app[appkeys.CACHE].index.get("test:/missing.bin") is None


async def test_unavailable_upstream_without_a_copy_is_an_error(read_proxy: Start) -> None:
    proxy = await read_proxy()
    proxy.fake.add("/down.bin", b"", status=503)
    status, headers, _ = await proxy.get("/down.bin")
    assert (status, headers["X-Error"]) == (502, "UpstreamUnavailable")


async def test_head_without_fill_answers_from_cache_fill_or_adapter(read_proxy: Start) -> None:
    proxy = await read_proxy()
    obj = proxy.fake.add("/h.bin", BODY, chunk=4096)
    obj.gate = gate = asyncio.Event()
    peek = proxy.server.make_url("/peek/h.bin")

    async with proxy.session.head(peek) as r:  # nothing known: what the adapter said, nothing fetched
        assert (r.status, r.headers["X-Cache"], r.headers["ETag"], r.content_length) == (
            200, "miss", '"from-the-adapter"', 3)
    assert proxy.fake.requests == []
    async with proxy.session.get(proxy.url("/h.bin")) as reading:
        await proxy.frontend.fetching.wait()
        async with proxy.session.head(peek) as r:  # the running fill knows the upstream's answer
            assert (r.status, r.headers["X-Cache"], r.headers["ETag"], r.content_length) == (
                200, "coalesced", '"v1"', len(BODY))
        async with proxy.session.head(peek, headers={"If-None-Match": '"v1"'}) as r:
            assert (r.status, r.headers["X-Cache"]) == (304, "coalesced")
        gate.set()
        assert await reading.read() == BODY
    async with proxy.session.head(peek, headers={"If-Match": '"v0"'}) as r:
        assert (r.status, r.headers["X-Cache"]) == (412, "hit")
    assert proxy.fake.count("/h.bin") == 1
