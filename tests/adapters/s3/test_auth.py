"""SigV4 at the proxy's edge: header and presigned forms, wrong secrets, skew, the open mode."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

import aiohttp
import botocore
import pytest
from botocore.exceptions import ClientError
from yarl import URL

from adapters.s3 import sigv4
from tests.adapters.s3.conftest import Client, S3Proxy, make_client
from tests.fakes.s3_servers import ACCESS_KEY, SECRET_KEY


def code(exc: pytest.ExceptionInfo[ClientError]) -> str:
    return str(exc.value.response["Error"]["Code"])


async def test_wrong_secret_unknown_key_and_unsigned_are_refused(s3: S3Proxy, direct: Client, bucket: str) -> None:
    direct.put_object(Bucket=bucket, Key="k", Body=b"secret bytes")
    for client, expected in ((s3.client(secret_key="WRONG"), "SignatureDoesNotMatch"),
                             (s3.client(access_key="nobody"), "InvalidAccessKeyId"),
                             (s3.client(signature_version=botocore.UNSIGNED), "AccessDenied")):
        with pytest.raises(ClientError) as exc:
            await asyncio.to_thread(client.get_object, Bucket=bucket, Key="k")
        assert code(exc) == expected
        assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
        with pytest.raises(ClientError) as exc:
            await asyncio.to_thread(client.list_objects_v2, Bucket=bucket)
        assert code(exc) == expected
    assert s3.relay.requests == [], "nothing unauthenticated reaches the upstream"


async def test_upstream_never_sees_the_client_signature(s3: S3Proxy, direct: Client, bucket: str) -> None:
    direct.put_object(Bucket=bucket, Key="k", Body=b"abc")
    got = await asyncio.to_thread(s3.client().get_object, Bucket=bucket, Key="k")
    assert await asyncio.to_thread(got["Body"].read) == b"abc"
    (request,) = s3.relay.requests
    assert "Credential=upstream-key/" in request.headers["Authorization"]
    assert ACCESS_KEY not in request.headers["Authorization"]


async def test_presigned_url(s3: S3Proxy, direct: Client, bucket: str) -> None:
    direct.put_object(Bucket=bucket, Key="dir/a b+c.txt", Body=b"presigned body")
    # botocore presigns with SigV2 unless told otherwise; only SigV4 is accepted.
    params = {"Bucket": bucket, "Key": "dir/a b+c.txt"}
    url = s3.client(signature_version="s3v4").generate_presigned_url("get_object", Params=params, ExpiresIn=60)
    async with aiohttp.ClientSession() as session:
        async with session.get(URL(url, encoded=True)) as r:
            assert (r.status, await r.read()) == (200, b"presigned body")
        tampered = url.replace("X-Amz-Expires=60", "X-Amz-Expires=61")
        async with session.get(URL(tampered, encoded=True)) as r:
            assert r.status == 403
            assert b"<Code>SignatureDoesNotMatch</Code>" in await r.read()
        wrong = make_client(s3.endpoint, secret_key="WRONG", signature_version="s3v4").generate_presigned_url(
            "get_object", Params={"Bucket": bucket, "Key": "dir/a b+c.txt"}, ExpiresIn=60)
        async with session.get(URL(wrong, encoded=True)) as r:
            assert r.status == 403


async def test_clock_skew(s3: S3Proxy, bucket: str) -> None:
    url = URL(s3.endpoint)
    raw_path = f"/s3/{bucket}"
    headers = sigv4.sign("GET", f"{url.host}:{url.port}", raw_path, [], {},
                         sigv4.Credentials(ACCESS_KEY, SECRET_KEY), "us-east-1",
                         datetime.now(UTC) - timedelta(minutes=20))
    async with aiohttp.ClientSession() as session:
        async with session.get(url.with_path(raw_path), headers=headers) as r:
            assert r.status == 403
            assert b"<Code>RequestTimeTooSkewed</Code>" in await r.read()
        fresh = sigv4.sign("GET", f"{url.host}:{url.port}", raw_path, [], {},
                           sigv4.Credentials(ACCESS_KEY, SECRET_KEY), "eu-west-3", datetime.now(UTC))
        async with session.get(url.with_path(raw_path), headers=fresh) as r:
            assert r.status == 200, "any region the client signs for is accepted"


async def test_open_mode_accepts_any_or_no_signature(start_s3: Callable[..., Awaitable[S3Proxy]], direct: Client,
                                                     bucket: str) -> None:
    s3 = await start_s3(s3_client_keys=None)
    direct.put_object(Bucket=bucket, Key="k", Body=b"open")
    for client in (s3.client(secret_key="anything"), s3.client(signature_version=botocore.UNSIGNED)):
        got = await asyncio.to_thread(client.get_object, Bucket=bucket, Key="k")
        assert await asyncio.to_thread(got["Body"].read) == b"open"
