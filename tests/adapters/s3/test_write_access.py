"""Who may write through the S3 API, and what a write-through caches: the API is read-only unless
client keys are configured *and* ``--s3-allow-writes`` is set; an upload whose upstream copy
differs from the bytes sent is never cached."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from botocore.exceptions import ClientError
from pydantic import ValidationError

from adapters.s3.upstream import cache_key
from proxy import appkeys
from proxy.config import Settings
from tests.adapters.s3.conftest import Client, S3Proxy

WRITES: dict[str, Callable[[Client, str], Any]] = {
    "put_object": lambda c, b: c.put_object(Bucket=b, Key="w.bin", Body=b"poison"),
    "create_multipart_upload": lambda c, b: c.create_multipart_upload(Bucket=b, Key="w.bin"),
    "delete_object": lambda c, b: c.delete_object(Bucket=b, Key="w.bin"),
}


def upstream_writes(s3: S3Proxy) -> list[str]:
    return [f"{r.method} {r.raw_path}" for r in s3.relay.requests if r.method not in ("GET", "HEAD")]


@pytest.mark.parametrize("call", sorted(WRITES))
@pytest.mark.parametrize("settings", [{"s3_client_keys": None}, {}], ids=["no-client-keys", "keys-without-allow"])
async def test_writes_are_refused_with_access_denied_unless_allowed(
        start_s3: Callable[..., Awaitable[S3Proxy]], direct: Client, bucket: str, call: str,
        settings: dict[str, Any]) -> None:
    direct.put_object(Bucket=bucket, Key="w.bin", Body=b"the real weights")
    s3 = await start_s3(**settings)
    with pytest.raises(ClientError) as exc:
        await asyncio.to_thread(WRITES[call], s3.client(), bucket)
    assert exc.value.response["Error"]["Code"] == "AccessDenied"
    assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    assert upstream_writes(s3) == [], "nothing was sent to the upstream"
    assert direct.get_object(Bucket=bucket, Key="w.bin")["Body"].read() == b"the real weights"
    got = await asyncio.to_thread(s3.client().get_object, Bucket=bucket, Key="w.bin")
    assert await asyncio.to_thread(got["Body"].read) == b"the real weights", "reads still work"


def test_allowing_writes_without_client_keys_is_a_settings_error(make_settings: Callable[..., Settings]) -> None:
    with pytest.raises(ValidationError, match="--s3-allow-writes needs --s3-client-keys"):
        make_settings(s3_upstream_endpoint="http://127.0.0.1:9", s3_allow_writes=True)


def flip_last_byte(body: bytes) -> bytes:
    return body[:-1] + bytes([body[-1] ^ 0xFF])


def truncate(body: bytes) -> bytes:
    return body[: len(body) // 2]


@pytest.mark.parametrize("tamper", [flip_last_byte, truncate])
async def test_put_whose_upstream_copy_differs_is_not_cached(
        start_s3: Callable[..., Awaitable[S3Proxy]], direct: Client, bucket: str,
        tamper: Callable[[bytes], bytes]) -> None:
    s3 = await start_s3(s3_allow_writes=True)
    s3.relay.tamper = tamper
    body = os.urandom(256 * 1024)
    client = s3.client()
    with pytest.raises(ClientError) as exc:
        await asyncio.to_thread(client.put_object, Bucket=bucket, Key="t.bin", Body=body)
    assert exc.value.response["Error"]["Code"] == "InternalError"
    stored = direct.get_object(Bucket=bucket, Key="t.bin")["Body"].read()
    assert stored == tamper(body), "the upstream really holds other bytes"
    index = s3.proxy.app[appkeys.CACHE].index
    assert await asyncio.to_thread(index.get, cache_key(bucket, "t.bin")) is None, "nothing was cached"

    s3.relay.tamper = None
    got = await asyncio.to_thread(client.get_object, Bucket=bucket, Key="t.bin")
    assert await asyncio.to_thread(got["Body"].read) == stored, "readers get what the upstream holds"
    assert got["ResponseMetadata"]["HTTPHeaders"]["x-cache"] == "miss"
