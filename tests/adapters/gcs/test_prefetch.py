"""gs:// prefixes in prefetch, pins and watches (the control API), against fake-gcs-server."""

from __future__ import annotations

import os

from proxy import appkeys
from tests.adapters.gcs.conftest import GcsProxy
from tests.adapters.gcs.test_fetch import get
from tests.control import call, prefetch
from tests.fakes.gcs_server import GcsAdmin


async def test_prefix_prefetch_pins_and_later_reads_are_hits(gcs_proxy: GcsProxy, gcs: GcsAdmin,
                                                             gcs_bucket: str) -> None:
    bodies = {f"llama/part-{i}.bin": os.urandom(100_000 + i) for i in range(3)}
    for name, body in bodies.items():
        await gcs.upload(gcs_bucket, name, body)
    await gcs.upload(gcs_bucket, "llama2/other.bin", b"not under the prefix")
    job = await prefetch(gcs_proxy.proxy, url=f"gs://{gcs_bucket}/llama", pin=True)
    assert (job["state"], job["files_total"], job["bytes_done"]) == ("succeeded", 3, sum(map(len, bodies.values())))
    assert len(gcs_proxy.relay.bodies()) == 3
    for name, body in bodies.items():
        status, got, headers = await get(gcs_proxy, f"gs://{gcs_bucket}/{name}")
        assert (status, got, headers["X-Cache"]) == (200, body, "hit")
    assert len(gcs_proxy.relay.bodies()) == 3
    pins = await call(gcs_proxy.proxy, "GET", "/v1/pins", expect=200)
    assert [(p["url"], p["prefixes"]) for p in pins] == [(f"gs://{gcs_bucket}/llama", [f"gs:{gcs_bucket}/llama/"])]


async def test_watched_prefix_sees_a_new_generation(gcs_proxy: GcsProxy, gcs: GcsAdmin, gcs_bucket: str) -> None:
    await gcs.upload(gcs_bucket, "m/w.bin", b"one")
    await call(gcs_proxy.proxy, "POST", "/v1/watches", {"url": f"gs://{gcs_bucket}/m/", "interval": 3600},
               expect=201)
    watches = gcs_proxy.proxy.app[appkeys.CONTROL].watches
    watch = watches.get(f"gs://{gcs_bucket}/m/")
    assert watch is not None
    await watches.check(watch)
    first = watch.version
    assert first is not None
    await gcs.upload(gcs_bucket, "m/w.bin", b"two, longer")
    assert await watches.check(watch) is True
    assert watch.version != first
    fetched = len(gcs_proxy.relay.bodies())
    status, got, _ = await get(gcs_proxy, f"gs://{gcs_bucket}/m/w.bin")
    assert (status, got) == (200, b"two, longer")
    assert len(gcs_proxy.relay.bodies()) == fetched, "the new generation was cached by the watch"


async def test_a_bad_gs_url_is_a_400(gcs_proxy: GcsProxy) -> None:
    body = await call(gcs_proxy.proxy, "POST", "/v1/prefetch", {"url": "gs://UPPER/x"}, expect=400)
    assert "bucket" in str(body)
