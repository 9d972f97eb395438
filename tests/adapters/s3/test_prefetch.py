"""Prefetch of S3 prefixes, watches of a prefix, and --offline, against moto through a counting relay."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable

import pytest
from botocore.exceptions import ClientError

from proxy import appkeys
from tests.adapters.s3.conftest import Client, S3Proxy
from tests.control import call, prefetch

S3Factory = Callable[..., Awaitable[S3Proxy]]


async def read(client: Client, bucket: str, key: str) -> bytes:
    """GetObject through the proxy, on a thread (the proxy serves on this event loop)."""
    def get() -> bytes:
        return client.get_object(Bucket=bucket, Key=key)["Body"].read()  # type: ignore[no-any-return]

    return await asyncio.to_thread(get)


async def test_prefix_prefetch_then_reads_are_hits(s3: S3Proxy, direct: Client, bucket: str) -> None:
    bodies = {f"llama/part-{i}.bin": os.urandom(100_000 + i) for i in range(3)}
    for key, body in bodies.items():
        direct.put_object(Bucket=bucket, Key=key, Body=body)
    direct.put_object(Bucket=bucket, Key="llama2/other.bin", Body=b"not under the prefix")
    job = await prefetch(s3.proxy, url=f"s3://{bucket}/llama", pin=True)
    assert (job["state"], job["files_total"], job["bytes_done"]) == ("succeeded", 3, sum(map(len, bodies.values())))
    assert [s3.relay.count("GET", f"/{bucket}/{key}") for key in bodies] == [1, 1, 1]
    client = s3.client()
    for key, body in bodies.items():
        assert await read(client, bucket, key) == body
    assert [s3.relay.count("GET", f"/{bucket}/{key}") for key in bodies] == [1, 1, 1]
    assert s3.relay.count("GET", f"/{bucket}/llama2/other.bin") == 0
    pins = await call(s3.proxy, "GET", "/v1/pins", expect=200)
    assert [(p["url"], p["prefixes"]) for p in pins] == [(f"s3://{bucket}/llama", [f"s3:{bucket}/llama/"])]


async def test_watched_prefix_refetches_a_changed_object(s3: S3Proxy, direct: Client, bucket: str) -> None:
    direct.put_object(Bucket=bucket, Key="m/w.bin", Body=b"one")
    await call(s3.proxy, "POST", "/v1/watches", {"url": f"s3://{bucket}/m/", "interval": 3600}, expect=201)
    watches = s3.proxy.app[appkeys.CONTROL].watches
    watch = watches.get(f"s3://{bucket}/m/")
    assert watch is not None
    await watches.check(watch)
    first = watch.version
    assert first is not None
    direct.put_object(Bucket=bucket, Key="m/w.bin", Body=b"two, longer")
    assert await watches.check(watch) is True
    assert watch.version != first
    gets = s3.relay.count("GET", f"/{bucket}/m/w.bin")
    assert await read(s3.client(), bucket, "m/w.bin") == b"two, longer"
    assert s3.relay.count("GET", f"/{bucket}/m/w.bin") == gets, "the new version was cached by the watch"


async def test_offline_answers_s3_errors_without_upstream(start_s3: S3Factory, direct: Client, bucket: str) -> None:
    online = await start_s3()
    direct.put_object(Bucket=bucket, Key="cached.bin", Body=b"cached bytes")
    direct.put_object(Bucket=bucket, Key="uncached.bin", Body=b"never fetched")
    assert await read(online.client(), bucket, "cached.bin") == b"cached bytes"
    offline = await start_s3(offline=True)
    before = len(offline.relay.requests)
    assert await read(offline.client(), bucket, "cached.bin") == b"cached bytes"
    with pytest.raises(ClientError) as caught:
        await read(offline.client(), bucket, "uncached.bin")
    assert caught.value.response["Error"]["Code"] == "ServiceUnavailable"
    assert len(offline.relay.requests) == before
