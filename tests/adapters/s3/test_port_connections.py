"""The dedicated S3 port has the main port's connection policy: one cap for both listeners, idle
sockets make room for real clients, and a stalled request body is cut."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

from adapters.s3 import sigv4
from proxy import appkeys
from tests.adapters.s3.conftest import Client, S3Proxy, make_client
from tests.fakes.s3_servers import ACCESS_KEY, SECRET_KEY


def closed(s3: S3Proxy, reason: str) -> float:
    value: float = s3.proxy.app[appkeys.METRICS].connections_refused.labels(reason)._value.get()
    return value


async def test_idle_sockets_on_the_s3_port_make_room_for_clients(start_s3: Callable[..., Awaitable[S3Proxy]],
                                                                  direct: Client, bucket: str) -> None:
    s3 = await start_s3(s3_port=0, max_connections=4)
    port = s3.frontend.bound_port
    assert port is not None
    direct.put_object(Bucket=bucket, Key="k.bin", Body=b"weights")
    held = [await asyncio.open_connection("127.0.0.1", port) for _ in range(40)]  # half-open, never a byte
    client = make_client(f"http://127.0.0.1:{port}")
    got = await asyncio.to_thread(client.get_object, Bucket=bucket, Key="k.bin")
    assert await asyncio.to_thread(got["Body"].read) == b"weights"
    assert closed(s3, "evicted_idle") >= 36
    first_reader, _ = held[0]
    assert await asyncio.wait_for(first_reader.read(), 10) == b"", "the oldest idle socket was closed"
    for _, writer in held:
        writer.close()


async def test_a_stalled_body_on_the_s3_port_is_cut(start_s3: Callable[..., Awaitable[S3Proxy]],
                                                   bucket: str) -> None:
    s3 = await start_s3(s3_port=0, body_idle_timeout=0.3, s3_allow_writes=True)
    port = s3.frontend.bound_port
    assert port is not None
    host = f"127.0.0.1:{port}"
    path = f"/{bucket}/stalled.bin"
    headers = sigv4.sign("PUT", host, path, [], {"Content-Length": "1000"},
                         sigv4.Credentials(ACCESS_KEY, SECRET_KEY), "us-east-1", datetime.now(UTC),
                         payload_hash="UNSIGNED-PAYLOAD")
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    head = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    writer.write(f"PUT {path} HTTP/1.1\r\n{head}\r\n".encode() + b"abc")  # then nothing: a stalled upload
    assert await asyncio.wait_for(reader.read(), 10) == b""
    assert closed(s3, "body_timeout") == 1
    writer.close()
