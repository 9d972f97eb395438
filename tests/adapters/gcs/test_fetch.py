"""gs:// objects through ``/v1/fetch``: fake-gcs-server behind a counting relay, the real proxy, real sockets."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import os
from collections.abc import Awaitable, Callable

import aiohttp
import pytest
from multidict import CIMultiDict

from proxy import appkeys
from tests.adapters.gcs.conftest import GcsProxy
from tests.fakes.cloud_relay import flip_first_byte
from tests.fakes.gcs_server import GcsAdmin

MiB = 1 << 20


async def get(gp: GcsProxy, url: str, headers: dict[str, str] | None = None
              ) -> tuple[int, bytes, CIMultiDict[str]]:
    async with gp.proxy.session.get(gp.proxy.fetch_url(url), headers=headers or {}) as r:
        return r.status, await r.read(), r.headers.copy()


async def test_miss_then_hit_is_byte_exact_with_an_md5_etag(
        gcs_proxy: GcsProxy, gcs: GcsAdmin, gcs_bucket: str) -> None:
    body = os.urandom(3 * MiB + 7)
    meta = await gcs.upload(gcs_bucket, "llama/model.safetensors", body)
    url = f"gs://{gcs_bucket}/llama/model.safetensors"
    s1, b1, h1 = await get(gcs_proxy, url)
    s2, b2, h2 = await get(gcs_proxy, url)
    assert (s1, s2) == (200, 200)
    assert b1 == body
    assert b2 == body
    assert (h1["X-Cache"], h2["X-Cache"]) == ("miss", "hit")
    assert h2["ETag"] == h1["ETag"] == f'"{hashlib.md5(body).hexdigest()}"'
    assert base64.b64decode(meta["md5Hash"]).hex() == hashlib.md5(body).hexdigest()
    assert len(gcs_proxy.relay.bodies()) == 1
    entry = gcs_proxy.proxy.app[appkeys.CACHE].index.get(f"gs:{gcs_bucket}/llama/model.safetensors")
    assert entry is not None
    assert {c.algorithm for c in entry.checksums} == {"md5", "crc32c"}
    assert entry.extra["x-goog-generation"] == meta["generation"]


async def test_herd_of_16_clients_makes_one_upstream_get(gcs_proxy: GcsProxy, gcs: GcsAdmin, gcs_bucket: str) -> None:
    body = os.urandom(4 * MiB)
    await gcs.upload(gcs_bucket, "herd.bin", body)
    gcs_proxy.relay.gate = gate = asyncio.Event()
    n = 16
    started = [asyncio.Event() for _ in range(n)]

    async def client(i: int) -> bytes:
        async with gcs_proxy.proxy.session.get(gcs_proxy.proxy.fetch_url(f"gs://{gcs_bucket}/herd.bin")) as r:
            assert r.status == 200
            got = bytearray()
            async for chunk in r.content.iter_any():
                got.extend(chunk)
                started[i].set()
            return bytes(got)

    tasks = [asyncio.create_task(client(i)) for i in range(n)]
    for event in started:  # every client streams the first chunk while the upstream is held
        await event.wait()
    gate.set()
    bodies = await asyncio.gather(*tasks)
    assert all(b == body for b in bodies)
    assert len(gcs_proxy.relay.bodies()) == 1


async def test_corrupt_bytes_in_transit_are_never_cached(gcs_proxy: GcsProxy, gcs: GcsAdmin, gcs_bucket: str) -> None:
    body = os.urandom(2 * MiB)
    await gcs.upload(gcs_bucket, "bad.bin", body)
    gcs_proxy.relay.corrupt = flip_first_byte
    async with gcs_proxy.proxy.session.get(gcs_proxy.proxy.fetch_url(f"gs://{gcs_bucket}/bad.bin")) as r:
        with pytest.raises(aiohttp.ClientPayloadError):  # the md5/crc32c mismatch ends the body short
            await r.read()
    cache = gcs_proxy.proxy.app[appkeys.CACHE]
    assert cache.index.get(f"gs:{gcs_bucket}/bad.bin") is None
    assert list(cache.store.digests()) == []
    gcs_proxy.relay.corrupt = None
    status, fixed, headers = await get(gcs_proxy, f"gs://{gcs_bucket}/bad.bin")
    assert (status, fixed, headers["X-Cache"]) == (200, body, "miss")
    assert len(gcs_proxy.relay.bodies()) == 2


async def test_ranges_are_served_byte_exact(gcs_proxy: GcsProxy, gcs: GcsAdmin, gcs_bucket: str) -> None:
    body = os.urandom(MiB + 100)
    await gcs.upload(gcs_bucket, "r.bin", body)
    status, part, headers = await get(gcs_proxy, f"gs://{gcs_bucket}/r.bin", {"Range": "bytes=1000-1999"})
    assert (status, part) == (206, body[1000:2000])
    assert headers["Content-Range"] == f"bytes 1000-1999/{len(body)}"
    status, tail, _ = await get(gcs_proxy, f"gs://{gcs_bucket}/r.bin", {"Range": "bytes=-10"})
    assert (status, tail) == (206, body[-10:])


async def test_a_generation_replaced_mid_resume_is_never_spliced(
        gcs_proxy: GcsProxy, gcs: GcsAdmin, gcs_bucket: str) -> None:
    old, new = os.urandom(2 * MiB), os.urandom(2 * MiB)
    await gcs.upload(gcs_bucket, "chg.bin", old)

    async def replace() -> None:
        await gcs.upload(gcs_bucket, "chg.bin", new)

    gcs_proxy.relay.cut_after, gcs_proxy.relay.before_cut = MiB, replace
    async with gcs_proxy.proxy.session.get(gcs_proxy.proxy.fetch_url(f"gs://{gcs_bucket}/chg.bin")) as r:
        assert r.status == 200
        with pytest.raises(aiohttp.ClientPayloadError):
            await r.read()  # a body spliced from two generations must not complete
    media = gcs_proxy.relay.bodies()
    assert len(media) == 2
    assert media[1].headers["Range"].startswith("bytes=")
    cache = gcs_proxy.proxy.app[appkeys.CACHE]
    assert cache.index.get(f"gs:{gcs_bucket}/chg.bin") is None
    status, got, _ = await get(gcs_proxy, f"gs://{gcs_bucket}/chg.bin")
    assert (status, got) == (200, new)


async def test_missing_object_and_refused_bucket(gcs_proxy: GcsProxy, gcs_bucket: str) -> None:
    status, _, _ = await get(gcs_proxy, f"gs://{gcs_bucket}/nope.bin")
    assert status == 404
    status, _, _ = await get(gcs_proxy, "gs://other-bucket/x.bin")  # not in --gcs-allow
    assert status == 403
    status, _, _ = await get(gcs_proxy, f"gs://{gcs_bucket}/a/../b")
    assert status == 400
    assert gcs_proxy.relay.bodies() == [] or all(r.status == 404 for r in gcs_proxy.relay.bodies())


async def test_revalidation_reads_metadata_only_until_the_generation_changes(
        start_gcs: Callable[..., Awaitable[GcsProxy]], gcs: GcsAdmin, gcs_bucket: str) -> None:
    gp = await start_gcs(gcs_revalidate_after=0)
    await gcs.upload(gcs_bucket, "v.bin", b"version one")
    url = f"gs://{gcs_bucket}/v.bin"
    assert (await get(gp, url))[1] == b"version one"
    status, got, headers = await get(gp, url)
    assert (status, got, headers["X-Cache"]) == (200, b"version one", "revalidated")
    assert len(gp.relay.bodies()) == 1  # the second answer came from a metadata GET, not a download
    await gcs.upload(gcs_bucket, "v.bin", b"version two!")
    status, got, headers = await get(gp, url)
    assert (status, got) == (200, b"version two!")
    media = gp.relay.bodies()
    assert len(media) == 2
    assert "generation=" in media[1].raw_path  # the download is pinned to the generation it revalidated


async def test_a_large_object_fills_in_verified_segments(start_gcs: Callable[..., Awaitable[GcsProxy]],
                                                        gcs: GcsAdmin, gcs_bucket: str) -> None:
    gp = await start_gcs(fill_connections=4)
    body = os.urandom(40 * MiB + 3)
    await gcs.upload(gcs_bucket, "big.bin", body)
    status, got, _ = await get(gp, f"gs://{gcs_bucket}/big.bin")
    assert status == 200
    assert hashlib.sha256(got).digest() == hashlib.sha256(body).digest()
    ranged = [r for r in gp.relay.bodies() if "Range" in r.headers]
    assert ranged, "the fill was segmented"
    assert all(r.status == 206 for r in ranged)
    entry = gp.proxy.app[appkeys.CACHE].index.get(f"gs:{gcs_bucket}/big.bin")
    assert entry is not None
    assert {c.algorithm for c in entry.checksums} == {"md5", "crc32c"}


async def test_offline_serves_cached_objects_and_asks_gcs_nothing(
        start_gcs: Callable[..., Awaitable[GcsProxy]], gcs: GcsAdmin, gcs_bucket: str) -> None:
    online = await start_gcs()
    await gcs.upload(gcs_bucket, "cached.bin", b"cached bytes")
    await gcs.upload(gcs_bucket, "uncached.bin", b"never fetched")
    assert (await get(online, f"gs://{gcs_bucket}/cached.bin"))[1] == b"cached bytes"
    offline = await start_gcs(offline=True, gcs_revalidate_after=0)
    before = len(offline.relay.requests)
    status, got, _ = await get(offline, f"gs://{gcs_bucket}/cached.bin")
    assert (status, got) == (200, b"cached bytes")
    status, _, _ = await get(offline, f"gs://{gcs_bucket}/uncached.bin")
    assert status == 502
    assert len(offline.relay.requests) == before


async def test_an_empty_object_is_served_and_cached(gcs_proxy: GcsProxy, gcs: GcsAdmin, gcs_bucket: str) -> None:
    await gcs.upload(gcs_bucket, "empty.bin", b"")
    for cache in (("miss",), ("hit", "coalesced")):  # the second may join the fill as it commits
        status, got, headers = await get(gcs_proxy, f"gs://{gcs_bucket}/empty.bin")
        assert (status, got) == (200, b"")
        assert headers["X-Cache"] in cache
    assert len(gcs_proxy.relay.bodies()) == 1
