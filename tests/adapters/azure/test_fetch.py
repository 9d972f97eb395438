"""az:// blobs through ``/v1/fetch``: Azurite behind a counting relay, the real proxy, real sockets."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import os
from collections.abc import Awaitable, Callable

import aiohttp
import pytest
from azure.storage.blob import ContentSettings
from multidict import CIMultiDict

from proxy import appkeys
from tests.adapters.azure.conftest import AzureProxy, Blobs
from tests.fakes.azurite import ACCOUNT
from tests.fakes.cloud_relay import flip_first_byte

MiB = 1 << 20


async def get(ap: AzureProxy, url: str, headers: dict[str, str] | None = None
              ) -> tuple[int, bytes, CIMultiDict[str]]:
    async with ap.proxy.session.get(ap.proxy.fetch_url(url), headers=headers or {}) as r:
        return r.status, await r.read(), r.headers.copy()


def with_md5(body: bytes) -> ContentSettings:
    """The blob's Content-MD5 property, set at upload (Azure checks it then, and keeps it)."""
    return ContentSettings(content_md5=bytearray(hashlib.md5(body).digest()))


async def test_miss_then_hit_is_byte_exact_and_md5_checked(az_proxy: AzureProxy, blobs: Blobs) -> None:
    body = os.urandom(3 * MiB + 5)
    md5 = hashlib.md5(body).digest()
    etag = await blobs.put("llama/model.safetensors", body, content_settings=with_md5(body))
    url = az_proxy.url(blobs.name, "llama/model.safetensors")
    s1, b1, h1 = await get(az_proxy, url)
    s2, b2, h2 = await get(az_proxy, url)
    assert (s1, s2) == (200, 200)
    assert b1 == body
    assert b2 == body
    assert (h1["X-Cache"], h2["X-Cache"]) == ("miss", "hit")
    assert h1["ETag"] == h2["ETag"] == etag
    assert len(az_proxy.relay.bodies()) == 1
    entry = az_proxy.proxy.app[appkeys.CACHE].index.get(f"az:{ACCOUNT}/{blobs.name}/llama/model.safetensors")
    assert entry is not None
    assert [(c.algorithm, c.hex) for c in entry.checksums] == [("md5", md5.hex())]


async def test_the_https_blob_url_names_the_same_blob(az_proxy: AzureProxy, blobs: Blobs) -> None:
    body = os.urandom(1000)
    await blobs.put("a/b.bin", body)
    status, got, _ = await get(az_proxy, f"https://{ACCOUNT}.blob.core.windows.net/{blobs.name}/a/b.bin")
    assert (status, got) == (200, body)
    status, _, headers = await get(az_proxy, az_proxy.url(blobs.name, "a/b.bin"))
    assert headers["X-Cache"] == "hit"  # one key for both spellings
    assert len(az_proxy.relay.bodies()) == 1


async def test_herd_of_16_clients_makes_one_upstream_get(az_proxy: AzureProxy, blobs: Blobs) -> None:
    body = os.urandom(4 * MiB)
    await blobs.put("herd.bin", body)
    az_proxy.relay.gate = gate = asyncio.Event()
    n = 16
    started = [asyncio.Event() for _ in range(n)]

    async def client(i: int) -> bytes:
        async with az_proxy.proxy.session.get(az_proxy.proxy.fetch_url(az_proxy.url(blobs.name, "herd.bin"))) as r:
            assert r.status == 200
            got = bytearray()
            async for chunk in r.content.iter_any():
                got.extend(chunk)
                started[i].set()
            return bytes(got)

    tasks = [asyncio.create_task(client(i)) for i in range(n)]
    for event in started:
        await event.wait()
    gate.set()
    assert all(b == body for b in await asyncio.gather(*tasks))
    assert len(az_proxy.relay.bodies()) == 1


async def test_corrupt_bytes_in_transit_are_never_cached(az_proxy: AzureProxy, blobs: Blobs) -> None:
    body = os.urandom(2 * MiB)
    await blobs.put("bad.bin", body, content_settings=with_md5(body))
    az_proxy.relay.corrupt = flip_first_byte
    async with az_proxy.proxy.session.get(az_proxy.proxy.fetch_url(az_proxy.url(blobs.name, "bad.bin"))) as r:
        with pytest.raises(aiohttp.ClientPayloadError):  # the Content-MD5 mismatch ends the body short
            await r.read()
    cache = az_proxy.proxy.app[appkeys.CACHE]
    assert cache.index.get(f"az:{ACCOUNT}/{blobs.name}/bad.bin") is None
    assert list(cache.store.digests()) == []
    az_proxy.relay.corrupt = None
    status, fixed, headers = await get(az_proxy, az_proxy.url(blobs.name, "bad.bin"))
    assert (status, fixed, headers["X-Cache"]) == (200, body, "miss")


async def test_ranges_are_served_byte_exact(az_proxy: AzureProxy, blobs: Blobs) -> None:
    body = os.urandom(MiB + 100)
    await blobs.put("r.bin", body)
    status, part, headers = await get(az_proxy, az_proxy.url(blobs.name, "r.bin"), {"Range": "bytes=1000-1999"})
    assert (status, part) == (206, body[1000:2000])
    assert headers["Content-Range"] == f"bytes 1000-1999/{len(body)}"


async def test_a_blob_replaced_mid_resume_is_never_spliced(az_proxy: AzureProxy, blobs: Blobs) -> None:
    old, new = os.urandom(2 * MiB), os.urandom(2 * MiB)
    first = await blobs.put("chg.bin", old)

    async def replace() -> None:
        await blobs.put("chg.bin", new)

    az_proxy.relay.cut_after, az_proxy.relay.before_cut = MiB, replace
    async with az_proxy.proxy.session.get(az_proxy.proxy.fetch_url(az_proxy.url(blobs.name, "chg.bin"))) as r:
        assert r.status == 200
        with pytest.raises(aiohttp.ClientPayloadError):
            await r.read()
    gets = az_proxy.relay.bodies()
    assert len(gets) == 2
    assert gets[1].headers["If-Match"] == first
    assert gets[1].status == 412
    assert az_proxy.proxy.app[appkeys.CACHE].index.get(f"az:{ACCOUNT}/{blobs.name}/chg.bin") is None
    status, got, _ = await get(az_proxy, az_proxy.url(blobs.name, "chg.bin"))
    assert (status, got) == (200, new)


async def test_refusals(az_proxy: AzureProxy, blobs: Blobs) -> None:
    status, _, _ = await get(az_proxy, az_proxy.url(blobs.name, "nope.bin"))
    assert status == 404
    status, _, _ = await get(az_proxy, f"az://{ACCOUNT}/other/x.bin")  # not in --azure-allow
    assert status == 403
    status, _, _ = await get(az_proxy, f"az://{ACCOUNT}/{blobs.name}/a/../b")
    assert status == 400


async def test_a_wrong_account_key_is_refused_by_azurite(
        start_azure: Callable[..., Awaitable[AzureProxy]], blobs: Blobs) -> None:
    wrong = base64.b64encode(b"not the key").decode()
    ap = await start_azure(azure_account_key=wrong)
    await blobs.put("k.bin", b"x")
    status, _, _ = await get(ap, ap.url(blobs.name, "k.bin"))
    assert status == 403


async def test_revalidation_is_a_304_until_the_blob_changes(
        start_azure: Callable[..., Awaitable[AzureProxy]], blobs: Blobs) -> None:
    ap = await start_azure(azure_revalidate_after=0)
    await blobs.put("v.bin", b"version one")
    url = ap.url(blobs.name, "v.bin")
    assert (await get(ap, url))[1] == b"version one"
    status, got, headers = await get(ap, url)
    assert (status, got, headers["X-Cache"]) == (200, b"version one", "revalidated")
    gets = ap.relay.bodies()
    assert [g.status for g in gets] == [200, 304]
    await blobs.put("v.bin", b"version two!")
    status, got, _ = await get(ap, url)
    assert (status, got) == (200, b"version two!")
    assert [g.status for g in ap.relay.bodies()] == [200, 304, 200]


async def test_a_large_blob_fills_in_segments_pinned_by_etag(start_azure: Callable[..., Awaitable[AzureProxy]],
                                                            blobs: Blobs) -> None:
    ap = await start_azure(fill_connections=4)
    body = os.urandom(40 * MiB + 3)
    etag = await blobs.put("big.bin", body, content_settings=with_md5(body))
    status, got, _ = await get(ap, ap.url(blobs.name, "big.bin"))
    assert status == 200
    assert hashlib.sha256(got).digest() == hashlib.sha256(body).digest()
    ranged = [r for r in ap.relay.bodies() if "x-ms-range" in r.headers]
    assert ranged, "the fill was segmented"
    assert all(r.status == 206 and r.headers["If-Match"] == etag for r in ranged)


async def test_an_empty_blob_is_served_and_cached(az_proxy: AzureProxy, blobs: Blobs) -> None:
    await blobs.put("empty.bin", b"", content_settings=with_md5(b""))
    for cache in (("miss",), ("hit", "coalesced")):  # the second may join the fill as it commits
        status, got, headers = await get(az_proxy, az_proxy.url(blobs.name, "empty.bin"))
        assert (status, got) == (200, b"")
        assert headers["X-Cache"] in cache
    assert len(az_proxy.relay.bodies()) == 1
