"""The generic adapter end to end: real upstream, real proxy, real client, over sockets."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable

import aiohttp
import blake3
import pytest
from multidict import CIMultiDict
from yarl import URL

from proxy import appkeys
from tests.conftest import Proxy
from tests.fakes.fake_http import FakeUpstream

MiB = 1 << 20


async def get(proxy: Proxy, url: URL, headers: dict[str, str] | None = None) -> tuple[int, bytes, CIMultiDict[str]]:
    async with proxy.session.get(proxy.fetch_url(url), headers=headers or {}) as r:
        return r.status, await r.read(), r.headers.copy()


async def test_miss_then_hit_is_byte_exact_and_fetched_once(proxy: Proxy, upstream: tuple[FakeUpstream, URL]) -> None:
    fake, base = upstream
    body = os.urandom(3 * MiB + 17)
    fake.add("/m.bin", body)
    s1, b1, h1 = await get(proxy, base / "m.bin")
    s2, b2, h2 = await get(proxy, base / "m.bin")
    assert (s1, s2) == (200, 200)
    assert b1 == body
    assert b2 == body
    assert (h1["X-Cache"], h2["X-Cache"]) == ("miss", "hit")
    assert h2["ETag"] == '"v1"'
    assert h2["Content-Length"] == str(len(body))
    assert fake.count("/m.bin") == 1


@pytest.mark.parametrize("connections", [1, 8])
async def test_herd_of_64_fetches_once_and_streams_before_upstream_finishes(
        start_proxy: Callable[..., Awaitable[Proxy]], upstream: tuple[FakeUpstream, URL], connections: int) -> None:
    """One fill for the herd: one GET (one stream), or one GET plus one bounded Range per
    further segment (a segmented fill); either way every byte comes from the upstream once."""
    proxy = await start_proxy(fill_connections=connections)
    fake, base = upstream
    body = os.urandom(64 * MiB)
    gate = asyncio.Event()
    obj = fake.add("/herd.bin", body, gate=gate)
    n = 64
    got_bytes = [asyncio.Event() for _ in range(n)]

    async def client(i: int) -> str:
        async with proxy.session.get(proxy.fetch_url(base / "herd.bin")) as r:
            assert r.status == 200
            hasher = blake3.blake3()
            async for chunk in r.content.iter_any():
                hasher.update(chunk)
                got_bytes[i].set()
            return str(hasher.hexdigest())

    tasks = [asyncio.create_task(client(i)) for i in range(n)]
    await asyncio.wait_for(asyncio.gather(*(e.wait() for e in got_bytes)), 60)
    assert not obj.finished.is_set(), "every client had bytes while the upstream was still paused"
    gate.set()
    digests = await asyncio.gather(*tasks)
    assert digests == [blake3.blake3(body).hexdigest()] * n
    if connections == 1:
        assert fake.count("/herd.bin") == 1
    else:
        gets = fake.gets("/herd.bin")
        assert [g for g in gets if "Range" not in g.headers] == gets[:1]  # one download, then its segments
        assert all(g.headers["Range"].removeprefix("bytes=").partition("-")[2] for g in gets[1:])
    metrics = proxy.app[appkeys.METRICS]
    assert metrics.value("modelmanager_coalesced_waiters_total") == n - 1
    assert metrics.value("modelmanager_upstream_bytes_total") == len(body)


async def test_cold_range_is_served_before_the_fill_ends(proxy: Proxy, upstream: tuple[FakeUpstream, URL]) -> None:
    fake, base = upstream
    body = os.urandom(4 * MiB)
    gate = asyncio.Event()
    obj = fake.add("/r.bin", body, gate=gate)
    status, got, headers = await get(proxy, base / "r.bin", {"Range": "bytes=100-1099"})
    assert status == 206
    assert got == body[100:1100]
    assert headers["Content-Range"] == f"bytes 100-1099/{len(body)}"
    assert not obj.finished.is_set()
    gate.set()


async def test_range_beyond_landed_bytes_waits_for_them(proxy: Proxy, upstream: tuple[FakeUpstream, URL]) -> None:
    fake, base = upstream
    body = os.urandom(4 * MiB)
    gate = asyncio.Event()
    fake.add("/late.bin", body, gate=gate)
    first = asyncio.create_task(get(proxy, base / "late.bin", {"Range": "bytes=0-9"}))
    assert (await first)[1] == body[:10]
    tail = asyncio.create_task(get(proxy, base / "late.bin", {"Range": "bytes=-1000"}))
    done, _ = await asyncio.wait({tail}, timeout=0.2)
    assert not done, "the last bytes have not landed; the range must wait"
    gate.set()
    status, got, headers = await tail
    assert (status, got, headers["X-Cache"]) == (206, body[-1000:], "coalesced")
    assert fake.count("/late.bin") == 1


async def test_warm_ranges_and_unsatisfiable(proxy: Proxy, upstream: tuple[FakeUpstream, URL]) -> None:
    fake, base = upstream
    body = os.urandom(MiB)
    fake.add("/w.bin", body)
    assert (await get(proxy, base / "w.bin"))[1] == body
    assert (await get(proxy, base / "w.bin", {"Range": "bytes=1000-"}))[1] == body[1000:]
    assert (await get(proxy, base / "w.bin", {"Range": "bytes=-10"}))[1] == body[-10:]
    status, _, headers = await get(proxy, base / "w.bin", {"Range": f"bytes={len(body)}-"})
    assert (status, headers["Content-Range"]) == (416, f"bytes */{len(body)}")
    # If-Range with another validator: the whole representation, 200
    status, got, _ = await get(proxy, base / "w.bin", {"Range": "bytes=0-9", "If-Range": '"other"'})
    assert (status, got) == (200, body)
    status, got, _ = await get(proxy, base / "w.bin", {"Range": "bytes=0-9", "If-Range": '"v1"'})
    assert (status, got) == (206, body[:10])
    # several ranges: answered with the whole representation, as RFC 9110 allows
    status, got, _ = await get(proxy, base / "w.bin", {"Range": "bytes=0-1,5-6"})
    assert (status, got) == (200, body)
    assert fake.count("/w.bin") == 1


async def test_conditional_requests_hit_and_in_flight(proxy: Proxy, upstream: tuple[FakeUpstream, URL]) -> None:
    fake, base = upstream
    body = os.urandom(2 * MiB)
    gate = asyncio.Event()
    fake.add("/c.bin", body, gate=gate)
    async with proxy.session.get(proxy.fetch_url(base / "c.bin")) as reader:
        head = await reader.content.readexactly(1000)
        status, got, headers = await get(proxy, base / "c.bin", {"If-None-Match": '"v1"'})
        assert (status, got, headers["X-Cache"]) == (304, b"", "coalesced")
        gate.set()
        assert head + await reader.read() == body
    assert (await get(proxy, base / "c.bin", {"If-None-Match": 'W/"v1", "x"'}))[0] == 304
    assert (await get(proxy, base / "c.bin", {"If-Modified-Since": "Wed, 04 Nov 2026 10:00:00 GMT"}))[0] == 304
    assert (await get(proxy, base / "c.bin", {"If-Modified-Since": "Mon, 02 Nov 2026 10:00:00 GMT"}))[0] == 200
    assert (await get(proxy, base / "c.bin", {"If-Match": '"nope"'}))[0] == 412
    async with proxy.session.head(proxy.fetch_url(base / "c.bin")) as r:
        assert (r.status, r.headers["Content-Length"], await r.read()) == (200, str(len(body)), b"")
    assert fake.count("/c.bin") == 1


async def test_client_disconnect_does_not_stop_the_fill(proxy: Proxy, upstream: tuple[FakeUpstream, URL]) -> None:
    fake, base = upstream
    body = os.urandom(8 * MiB)
    gate = asyncio.Event()
    fake.add("/d.bin", body, gate=gate)
    async with proxy.session.get(proxy.fetch_url(base / "d.bin")) as r:
        await r.content.readexactly(1000)
        r.close()  # the client goes away mid-body
    fill = proxy.app[appkeys.FILLS].get(f"http:{base / 'd.bin'}")
    assert fill is not None
    gate.set()
    await fill.done()
    assert fill.error is None
    status, got, headers = await get(proxy, base / "d.bin")
    assert (status, got, headers["X-Cache"]) == (200, body, "hit")
    assert fake.count("/d.bin") == 1


async def test_upstream_drop_is_resumed_with_range(proxy: Proxy, upstream: tuple[FakeUpstream, URL]) -> None:
    fake, base = upstream
    body = os.urandom(5 * MiB)
    fake.add("/drop.bin", body, drops=2, drop_after=3 * MiB + 5)
    status, got, _ = await get(proxy, base / "drop.bin")
    assert status == 200
    assert got == body
    gets = fake.gets("/drop.bin")
    assert len(gets) == 3
    assert "Range" not in gets[0].headers
    # each resume starts where the proxy's temp file ends: after some of the bytes the upstream sent
    # (the client library drops what it had buffered when the connection breaks) and never beyond
    offsets = [int(g.headers["Range"].removeprefix("bytes=").rstrip("-")) for g in gets[1:]]
    assert all(0 < o <= 3 * MiB + 5 for o in offsets), offsets
    assert offsets == sorted(offsets)
    assert all(g.headers["If-Range"] == '"v1"' for g in gets[1:])
    assert proxy.app[appkeys.METRICS].value("modelmanager_upstream_resumes_total") == 2


async def test_resume_against_a_changed_object_fails_and_commits_nothing(
        proxy: Proxy, upstream: tuple[FakeUpstream, URL]) -> None:
    fake, base = upstream
    body = os.urandom(2 * MiB)
    fake.add("/chg.bin", body, drops=1, drop_after=MiB, etag_after_drop='"v2"')
    async with proxy.session.get(proxy.fetch_url(base / "chg.bin")) as r:
        assert r.status == 200
        with pytest.raises(aiohttp.ClientPayloadError):
            await r.read()  # a body spliced from two versions must not complete
    assert [g.headers.get("If-Range") for g in fake.gets("/chg.bin")] == [None, '"v1"']
    assert proxy.app[appkeys.CACHE].index.get(f"http:{base / 'chg.bin'}") is None


async def test_corrupt_upstream_content_is_never_committed(
        proxy: Proxy, upstream: tuple[FakeUpstream, URL]) -> None:
    fake, base = upstream
    body = os.urandom(3 * MiB)
    lie = bytearray(body)
    lie[-1] ^= 0xFF  # same size, one bit flipped in the very last byte
    obj = fake.add("/bad.bin", body, served=bytes(lie))
    obj.honest_sha256_header()
    async with proxy.session.get(proxy.fetch_url(base / "bad.bin")) as r:
        assert r.status == 200
        got = bytearray()

        async def drain() -> None:
            async for chunk in r.content.iter_any():
                got.extend(chunk)

        with pytest.raises(aiohttp.ClientPayloadError):  # a corrupt body must not end cleanly
            await drain()
    assert len(got) < len(body), "the unverified last byte was held back"
    cache = proxy.app[appkeys.CACHE]
    assert cache.index.get(f"http:{base / 'bad.bin'}") is None
    assert list(cache.store.digests()) == []
    assert list(cache.store.layout.tmp("test-node").iterdir()) == []
    # once the upstream is honest, the next request fetches again and succeeds
    obj.served = None
    status, fixed, headers = await get(proxy, base / "bad.bin")
    assert (status, fixed, headers["X-Cache"]) == (200, body, "miss")
    assert fake.count("/bad.bin") == 2


async def test_upstream_that_keeps_cutting_the_body_short_fails_after_retries(
        start_proxy: Callable[..., Awaitable[Proxy]], upstream: tuple[FakeUpstream, URL]) -> None:
    proxy = await start_proxy(fill_retries=2)
    fake, base = upstream
    body = os.urandom(MiB)
    fake.add("/short.bin", body, drops=99, drop_after=1000)
    async with proxy.session.get(proxy.fetch_url(base / "short.bin")) as r:
        assert r.status == 200
        with pytest.raises(aiohttp.ClientPayloadError):
            await r.read()
    assert fake.count("/short.bin") == 3  # the first try and two resumes
    assert proxy.app[appkeys.CACHE].index.get(f"http:{base / 'short.bin'}") is None


async def test_upstream_404_passes_through_and_is_not_cached(
        proxy: Proxy, upstream: tuple[FakeUpstream, URL]) -> None:
    fake, base = upstream
    for _ in range(2):
        status, body, headers = await get(proxy, base / "missing.bin")
        assert (status, headers["X-Upstream-Status"]) == (404, "404")
        assert body == b"no such object: /missing.bin"
    fake.add("/forbidden.bin", b"", status=403)
    assert (await get(proxy, base / "forbidden.bin"))[0] == 403
    assert fake.count("/missing.bin") == 2
    assert list(proxy.app[appkeys.CACHE].index.entries()) == []


async def test_hosts_outside_http_allow_are_refused(proxy: Proxy, upstream: tuple[FakeUpstream, URL]) -> None:
    fake, base = upstream
    fake.add("/x.bin", b"x")
    other = base.with_host("localhost")  # same server, a host name not in the allow list
    status, _body, headers = await get(proxy, other / "x.bin")
    assert (status, headers["X-Error-Code"]) == (403, "HostNotAllowed")
    assert fake.requests == []


async def test_redirects_are_followed_only_to_allowed_hosts(proxy: Proxy, upstream: tuple[FakeUpstream, URL]) -> None:
    fake, base = upstream
    fake.add("/x.bin", b"payload")
    fake.add("/inside", b"", status=302, headers={"Location": "/x.bin"})
    fake.add("/outside", b"", status=307, headers={"Location": str(base.with_host("localhost") / "x.bin")})
    status, body, _ = await get(proxy, base / "inside")
    assert (status, body) == (200, b"payload")
    status, _, headers = await get(proxy, base / "outside")
    assert (status, headers["X-Error-Code"]) == (403, "HostNotAllowed")
    assert fake.count("/x.bin") == 1


async def test_path_traversal_and_bad_urls_are_refused(proxy: Proxy, upstream: tuple[FakeUpstream, URL]) -> None:
    fake, base = upstream
    bad = [
        f"{base}/a/../etc/passwd",
        f"{base}/a/%2e%2e/etc/passwd",
        f"{base}/a/%2E%2E%2Fetc",
        "file:///etc/passwd",
        "ftp://127.0.0.1/x",
        f"http://user:pw@{base.host}:{base.port}/x",
        "",
    ]
    for url in bad:
        async with proxy.session.get(proxy.server.make_url("/v1/fetch").with_query(url=url)) as r:
            assert r.status == 400, url
            assert r.headers["X-Error-Code"] == "InvalidURL"
    assert fake.requests == []


async def test_upstream_without_content_length(proxy: Proxy, upstream: tuple[FakeUpstream, URL]) -> None:
    fake, base = upstream
    body = os.urandom(2 * MiB + 3)
    gate = asyncio.Event()
    fake.add("/chunked.bin", body, chunked=True, gate=gate)
    async with proxy.session.get(proxy.fetch_url(base / "chunked.bin")) as r:
        assert r.headers["Transfer-Encoding"] == "chunked"
        assert "Content-Length" not in r.headers
        head = await r.content.readexactly(1000)  # streamed before the size is known
        ranged = asyncio.create_task(get(proxy, base / "chunked.bin", {"Range": "bytes=-3"}))
        gate.set()
        assert head + await r.read() == body
    status, got, headers = await ranged  # a range on an unknown size waits for the end
    size = len(body)
    assert (status, got, headers["Content-Range"]) == (206, body[-3:], f"bytes {size - 3}-{size - 1}/{size}")
    assert (status, got, headers["Content-Range"]) == (206, body[-3:], f"bytes {size - 3}-{size - 1}/{size}")
    status, got, headers = await get(proxy, base / "chunked.bin")
    assert (status, got, headers["Content-Length"]) == (200, body, str(len(body)))
    assert fake.count("/chunked.bin") == 1
