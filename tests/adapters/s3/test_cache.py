"""Caching behaviour through S3: a cold herd, revalidation by ETag, write-through, the dedicated port."""

from __future__ import annotations

import asyncio
import hashlib
import os
import threading
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import aiohttp
import pytest
from botocore.exceptions import ClientError

from adapters.s3 import sigv4
from tests.adapters.s3.conftest import Client, S3Proxy, make_client
from tests.fakes.s3_servers import ACCESS_KEY, SECRET_KEY

MiB = 1 << 20


async def test_cold_herd_of_16_is_one_upstream_fetch_streamed_to_all(s3: S3Proxy, direct: Client,
                                                                    bucket: str) -> None:
    body = os.urandom(8 * MiB)
    direct.put_object(Bucket=bucket, Key="herd.bin", Body=body)
    s3.relay.gate = asyncio.Event()
    loop = asyncio.get_running_loop()
    n = 16
    first_bytes = [asyncio.Event() for _ in range(n)]
    proceed = threading.Event()
    clients = [s3.client() for _ in range(n)]

    def reader(i: int) -> str:
        got = clients[i].get_object(Bucket=bucket, Key="herd.bin")["Body"]
        head = got.read(1024)
        loop.call_soon_threadsafe(first_bytes[i].set)
        proceed.wait(60)
        return hashlib.sha256(head + got.read()).hexdigest()

    # Own threads: the default executor is small on 2 cores, and the proxy needs it too.
    with ThreadPoolExecutor(n) as pool:
        tasks = [loop.run_in_executor(pool, reader, i) for i in range(n)]
        try:
            await asyncio.wait_for(asyncio.gather(*(e.wait() for e in first_bytes)), 60)
            assert s3.relay.bodies_done == 0, "every client had bytes while the upstream body was still held"
        finally:
            s3.relay.gate.set()
            proceed.set()
        assert await asyncio.gather(*tasks) == [hashlib.sha256(body).hexdigest()] * n
    assert s3.relay.count("GET", f"/{bucket}/herd.bin") == 1
    assert len(s3.relay.requests) == 1


async def test_changed_object_is_refetched_after_revalidation(start_s3: Callable[..., Awaitable[S3Proxy]],
                                                              direct: Client, bucket: str) -> None:
    s3 = await start_s3(s3_revalidate_after=0)
    client = s3.client()
    direct.put_object(Bucket=bucket, Key="v.bin", Body=b"version one")
    for _ in range(2):
        got = await asyncio.to_thread(client.get_object, Bucket=bucket, Key="v.bin")
        assert await asyncio.to_thread(got["Body"].read) == b"version one"
    assert got["ResponseMetadata"]["HTTPHeaders"]["x-cache"] == "revalidated"
    assert [r.status for r in s3.relay.requests] == [200, 304]
    assert s3.relay.requests[1].headers["If-None-Match"] == got["ETag"]
    new_etag = direct.put_object(Bucket=bucket, Key="v.bin", Body=b"version two!")["ETag"]
    got = await asyncio.to_thread(client.get_object, Bucket=bucket, Key="v.bin")
    assert (await asyncio.to_thread(got["Body"].read), got["ETag"]) == (b"version two!", new_etag)


async def test_if_match_naming_a_newer_version_revalidates_at_once(s3: S3Proxy, direct: Client,
                                                                  bucket: str) -> None:
    client = s3.client()
    direct.put_object(Bucket=bucket, Key="v.bin", Body=b"version one")
    got = await asyncio.to_thread(client.get_object, Bucket=bucket, Key="v.bin")
    assert await asyncio.to_thread(got["Body"].read) == b"version one"
    new_etag = direct.put_object(Bucket=bucket, Key="v.bin", Body=b"version two!")["ETag"]
    # aws s3 cp takes the ETag from a (fresh) listing and sends it back in If-Match.
    got = await asyncio.to_thread(client.get_object, Bucket=bucket, Key="v.bin", IfMatch=new_etag)
    assert await asyncio.to_thread(got["Body"].read) == b"version two!"


async def test_put_object_writes_through_and_the_next_read_is_a_hit(
        start_s3: Callable[..., Awaitable[S3Proxy]], direct: Client, bucket: str) -> None:
    s3 = await start_s3(s3_allow_writes=True)
    body = os.urandom(2 * MiB + 1)
    client = s3.client()
    put = await asyncio.to_thread(client.put_object, Bucket=bucket, Key="adapters/lora.safetensors", Body=body,
                                  Metadata={"base": "tiny"})
    upstream = direct.get_object(Bucket=bucket, Key="adapters/lora.safetensors")
    assert upstream["Body"].read() == body
    assert put["ETag"] == upstream["ETag"]
    got = await asyncio.to_thread(client.get_object, Bucket=bucket, Key="adapters/lora.safetensors")
    assert await asyncio.to_thread(got["Body"].read) == body
    assert got["ResponseMetadata"]["HTTPHeaders"]["x-cache"] == "hit"
    assert got["ETag"] == put["ETag"]
    assert got["Metadata"] == {"base": "tiny"}
    assert s3.relay.count("GET", f"/{bucket}/adapters/lora.safetensors") == 0
    with_wrong_secret = s3.client(secret_key="WRONG")
    with pytest.raises(ClientError) as exc:
        await asyncio.to_thread(with_wrong_secret.put_object, Bucket=bucket, Key="x", Body=b"1")
    assert exc.value.response["Error"]["Code"] == "SignatureDoesNotMatch"


async def test_dedicated_port_path_and_virtual_hosted(start_s3: Callable[..., Awaitable[S3Proxy]],
                                                      direct: Client, bucket: str) -> None:
    s3 = await start_s3(s3_port=0, s3_virtual_host_suffix="s3.cluster.test")
    port = s3.frontend.bound_port
    assert port is not None
    direct.put_object(Bucket=bucket, Key="dir/k.json", Body=b"{}")
    root = make_client(f"http://127.0.0.1:{port}")
    got = await asyncio.to_thread(root.get_object, Bucket=bucket, Key="dir/k.json")
    assert await asyncio.to_thread(got["Body"].read) == b"{}"
    listing = await asyncio.to_thread(root.list_objects_v2, Bucket=bucket)
    assert [e["Key"] for e in listing["Contents"]] == ["dir/k.json"]
    host = f"{bucket}.s3.cluster.test:{port}"
    headers = sigv4.sign("GET", host, "/dir/k.json", [], {}, sigv4.Credentials(ACCESS_KEY, SECRET_KEY),
                         "us-east-1", datetime.now(UTC))
    async with aiohttp.ClientSession() as session, \
            session.get(f"http://127.0.0.1:{port}/dir/k.json", headers=headers) as r:
        assert (r.status, await r.read()) == (200, b"{}")


async def test_a_large_object_is_filled_in_segments_and_verified(start_s3: Callable[..., Awaitable[S3Proxy]],
                                                                 direct: Client, bucket: str) -> None:
    s3 = await start_s3(fill_connections=4)
    body = os.urandom(40 * MiB + 5)
    put = direct.put_object(Bucket=bucket, Key="big.bin", Body=body, ChecksumAlgorithm="SHA256")
    got = await asyncio.to_thread(s3.client().get_object, Bucket=bucket, Key="big.bin")
    assert hashlib.sha256(await asyncio.to_thread(got["Body"].read)).digest() == hashlib.sha256(body).digest()
    gets = [r for r in s3.relay.requests if r.method == "GET" and r.raw_path.startswith(f"/{bucket}/big.bin")]
    assert "Range" not in gets[0].headers
    assert gets[0].headers.get("x-amz-checksum-mode") == "ENABLED"  # the checksum the fill verifies
    assert len(gets) >= 3
    assert all(g.headers["Range"].partition("-")[2] and g.headers["If-Match"] == put["ETag"] for g in gets[1:])
    assert all(g.status == 206 for g in gets[1:])
