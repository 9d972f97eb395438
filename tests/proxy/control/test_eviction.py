"""Quota eviction through the generic HTTP adapter: LRU, pins, and readers mid-stream."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Awaitable, Callable

from yarl import URL

from proxy import appkeys
from proxy.digest import Digest
from tests.conftest import Proxy
from tests.control import call, prefetch
from tests.fakes.fake_http import FakeUpstream

ProxyFactory = Callable[..., Awaitable[Proxy]]
MiB = 1 << 20


async def get(proxy: Proxy, url: URL) -> bytes:
    async with proxy.session.get(proxy.fetch_url(url)) as r:
        assert r.status == 200
        return await r.read()


def blobs(proxy: Proxy) -> int:
    return sum(1 for _ in proxy.app[appkeys.CACHE].store.digests())


async def test_least_recently_used_goes_first(start_proxy: ProxyFactory, upstream: tuple[FakeUpstream, URL]) -> None:
    fake, base = upstream
    proxy = await start_proxy(disk_quota_bytes=2 * MiB + 6)
    a, b = os.urandom(MiB), os.urandom(MiB)
    fake.add("/a", a)
    fake.add("/b", b)
    assert await get(proxy, base / "a") == a
    assert await get(proxy, base / "b") == b
    assert await get(proxy, base / "a") == a  # a is now the more recently used
    fake.add("/c", os.urandom(MiB))
    await get(proxy, base / "c")
    orphan = proxy.app[appkeys.CACHE].store.layout.blob(Digest.of(b"orphan"))
    orphan.parent.mkdir(parents=True, exist_ok=True)
    orphan.write_bytes(b"orphan")  # committed by a fill that has not written its index record yet
    os.utime(orphan, (0, orphan.stat().st_mtime))  # the least recently used of all
    report = await call(proxy, "POST", "/v1/evict", expect=200)
    assert (report["total_before"], report["total_after"], report["evicted"]) == (3 * MiB + 6, 2 * MiB + 6, 1)
    assert blobs(proxy) == 3
    assert orphan.exists()
    assert await get(proxy, base / "a") == a
    assert await get(proxy, base / "b") == b
    assert (fake.count("/a"), fake.count("/b")) == (1, 2), "b was evicted and fetched again; a stayed"
    metrics = proxy.app[appkeys.METRICS]
    assert metrics.value("modelmanager_evicted_bytes_total") == MiB


async def test_pinned_and_in_use_blobs_survive_a_pass_and_the_reader_completes(
        start_proxy: ProxyFactory, upstream: tuple[FakeUpstream, URL]) -> None:
    fake, base = upstream
    proxy = await start_proxy(disk_quota_bytes=MiB, sendfile=False)
    pinned, old1, old2 = os.urandom(MiB), os.urandom(MiB), os.urandom(MiB)
    slow = os.urandom(48 * MiB)  # larger than the socket buffers: the server stays mid-body
    for path, body in (("/pinned", pinned), ("/old1", old1), ("/old2", old2), ("/slow", slow)):
        fake.add(path, body)
    job = await prefetch(proxy, url=str(base / "pinned"), pin=True)
    assert (job["state"], job["pin"]) == ("succeeded", True)
    status = await call(proxy, "GET", "/v1/status", expect=200)
    assert status["cache"]["quota_bytes"] == MiB
    assert [p["url"] for p in status["pinned"]] == [str(base / "pinned")]
    await get(proxy, base / "old1")
    await get(proxy, base / "old2")
    await get(proxy, base / "slow")
    assert blobs(proxy) == 4

    async with proxy.session.get(proxy.fetch_url(base / "slow")) as reader:
        head = await reader.content.readexactly(64 * 1024)
        assert reader.headers["X-Cache"] == "hit"
        report = await call(proxy, "POST", "/v1/evict", expect=200)
        assert (report["evicted"], report["in_use"], report["pinned"]) == (2, 1, 1)
        assert report["total_after"] == MiB + 48 * MiB
        rest = await reader.read()
    assert hashlib.sha256(head + rest).digest() == hashlib.sha256(slow).digest()

    report = await call(proxy, "POST", "/v1/evict", expect=200)
    assert (report["evicted"], report["in_use"], report["total_after"]) == (1, 0, MiB)
    assert await get(proxy, base / "pinned") == pinned
    assert fake.count("/pinned") == 1, "the pinned blob was never evicted"
    assert await get(proxy, base / "old1") == old1
    assert fake.count("/old1") == 2

    pins = await call(proxy, "DELETE", "/v1/pins", expect=200, url=str(base / "pinned"))
    assert [p["url"] for p in pins] == [str(base / "pinned")]
    await call(proxy, "DELETE", "/v1/pins", expect=404, url=str(base / "pinned"))


async def test_one_evictor_at_a_time_holds_the_eviction_lease(start_proxy: ProxyFactory) -> None:
    proxy = await start_proxy()  # no quota: no background pass competes for the lease in this test
    coordinator = proxy.app[appkeys.COORDINATOR]
    lease = await coordinator.try_lead("control:eviction", 60)  # as another pod's evictor would
    assert lease is not None
    refused = await call(proxy, "POST", "/v1/evict", expect=409)
    assert "lease" in refused["error"]
    await coordinator.release(lease, keep_record=False)
    report = await call(proxy, "POST", "/v1/evict", expect=200)
    assert report["evicted"] == 0
    assert await coordinator.try_lead("control:eviction", 60) is not None, "the pass released its lease"


async def test_last_access_is_recorded_without_a_quota(start_proxy: ProxyFactory,
                                                       upstream: tuple[FakeUpstream, URL]) -> None:
    """Access times are kept true before any quota exists: a quota turned on later evicts what was
    read longest ago, not what was downloaded first."""
    fake, base = upstream
    proxy = await start_proxy(access_touch_interval=0)  # no --disk-quota-bytes
    body = os.urandom(MiB)
    fake.add("/a", body)
    assert await get(proxy, base / "a") == body
    blob = proxy.app[appkeys.CACHE].store.layout.blob(Digest.of(body))
    os.utime(blob, (1_000_000, blob.stat().st_mtime))  # read long ago, as far as the volume knows
    assert await get(proxy, base / "a") == body  # a hit now
    assert await proxy.app[appkeys.CONTROL].eviction.evictor.record_access() == 1
    assert blob.stat().st_atime > 1_000_000_000


async def test_http_urls_cannot_be_watched(start_proxy: ProxyFactory, upstream: tuple[FakeUpstream, URL]) -> None:
    _, base = upstream
    proxy = await start_proxy()
    answer = await call(proxy, "POST", "/v1/watches", {"url": str(base / "model.bin")}, expect=400)
    assert "cannot be watched" in answer["error"]
    assert await call(proxy, "GET", "/v1/watches", expect=200) == []
