"""az:// prefixes in prefetch, pins and watches (the control API), against Azurite."""

from __future__ import annotations

import os

from proxy import appkeys
from tests.adapters.azure.conftest import AzureProxy, Blobs
from tests.adapters.azure.test_fetch import get
from tests.control import call, prefetch
from tests.fakes.azurite import ACCOUNT


async def test_prefix_prefetch_pins_and_later_reads_are_hits(az_proxy: AzureProxy, blobs: Blobs) -> None:
    bodies = {f"llama/part-{i}.bin": os.urandom(100_000 + i) for i in range(3)}
    for name, body in bodies.items():
        await blobs.put(name, body)
    await blobs.put("llama2/other.bin", b"not under the prefix")
    job = await prefetch(az_proxy.proxy, url=f"az://{ACCOUNT}/{blobs.name}/llama", pin=True)
    assert (job["state"], job["files_total"], job["bytes_done"]) == ("succeeded", 3, sum(map(len, bodies.values())))
    assert len(az_proxy.relay.bodies()) == 3
    for name, body in bodies.items():
        status, got, headers = await get(az_proxy, az_proxy.url(blobs.name, name))
        assert (status, got, headers["X-Cache"]) == (200, body, "hit")
    assert len(az_proxy.relay.bodies()) == 3
    pins = await call(az_proxy.proxy, "GET", "/v1/pins", expect=200)
    assert [(p["url"], p["prefixes"]) for p in pins] == [
        (f"az://{ACCOUNT}/{blobs.name}/llama", [f"az:{ACCOUNT}/{blobs.name}/llama/"])]


async def test_watched_prefix_sees_a_replaced_blob(az_proxy: AzureProxy, blobs: Blobs) -> None:
    await blobs.put("m/w.bin", b"one")
    url = f"az://{ACCOUNT}/{blobs.name}/m/"
    await call(az_proxy.proxy, "POST", "/v1/watches", {"url": url, "interval": 3600}, expect=201)
    watches = az_proxy.proxy.app[appkeys.CONTROL].watches
    watch = watches.get(url)
    assert watch is not None
    await watches.check(watch)
    first = watch.version
    assert first is not None
    await blobs.put("m/w.bin", b"two, longer")
    assert await watches.check(watch) is True
    assert watch.version != first
    fetched = len(az_proxy.relay.bodies())
    status, got, _ = await get(az_proxy, az_proxy.url(blobs.name, "m/w.bin"))
    assert (status, got) == (200, b"two, longer")
    assert len(az_proxy.relay.bodies()) == fetched, "the new version was cached by the watch"
