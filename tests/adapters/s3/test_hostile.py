"""Hostile input on the S3 API gets an S3 XML 4xx, never a 500; SigV4 must bind the host."""

from __future__ import annotations

import asyncio
import xml.etree.ElementTree as ET
from datetime import UTC, datetime

from adapters.s3 import sigv4
from tests.adapters.s3.conftest import Client, S3Proxy
from tests.fakes.s3_servers import ACCESS_KEY, SECRET_KEY
from tests.raw_http import RawAnswer, raw_request


def s3_code(answer: RawAnswer) -> str:
    assert answer.headers["Content-Type"].startswith("application/xml"), answer
    code = ET.fromstring(answer.body).findtext("Code")
    assert code is not None
    return code


def signed_without_host(path: str, signature: str | None = None) -> bytes:
    """A request signed correctly over x-amz-* only: SignedHeaders leaves out host."""
    now = datetime.now(UTC)
    amz_date = now.strftime(sigv4.AMZ_DATE_FORMAT)
    scope = sigv4.Scope(amz_date[:8], "us-east-1")
    headers = {"x-amz-date": amz_date, "x-amz-content-sha256": sigv4.EMPTY_SHA256}
    signed = ("x-amz-content-sha256", "x-amz-date")
    canonical = sigv4.canonical_request("GET", sigv4.canonical_uri(path), "", headers, signed, sigv4.EMPTY_SHA256)
    sig = signature or sigv4.signature(SECRET_KEY, scope, sigv4.string_to_sign(amz_date, scope, canonical))
    auth = f"{sigv4.ALGORITHM} Credential={ACCESS_KEY}/{scope}, SignedHeaders={';'.join(signed)}, Signature={sig}"
    lines = [f"GET {path} HTTP/1.1", "Host: anything.example", f"Authorization: {auth}",
             *(f"{k}: {v}" for k, v in headers.items())]
    return "\r\n".join(lines).encode("utf-8")


async def test_signed_headers_must_include_host(s3: S3Proxy, direct: Client, bucket: str) -> None:
    await asyncio.to_thread(direct.put_object, Bucket=bucket, Key="k", Body=b"private")
    server = s3.proxy.server
    answer = await raw_request(server.host, server.port, signed_without_host(f"/s3/{bucket}/k"))
    assert answer.status == 400
    assert s3_code(answer) == "AuthorizationHeaderMalformed"
    assert s3.relay.requests == []


async def test_a_non_ascii_signature_is_a_mismatch(s3: S3Proxy, bucket: str) -> None:
    server = s3.proxy.server
    head = signed_without_host(f"/s3/{bucket}/k", signature="é" * 64).replace(
        b"SignedHeaders=x-amz-content-sha256;x-amz-date", b"SignedHeaders=host;x-amz-content-sha256;x-amz-date")
    answer = await raw_request(server.host, server.port, head)
    assert answer.status == 403
    assert s3_code(answer) == "SignatureDoesNotMatch"


async def test_a_key_that_is_not_utf8_is_refused_before_auth(s3: S3Proxy, bucket: str) -> None:
    server = s3.proxy.server
    answer = await raw_request(server.host, server.port, f"GET /s3/{bucket}/%FF%FE HTTP/1.1\r\nHost: p".encode())
    assert 400 <= answer.status < 500
    assert s3_code(answer) in ("InvalidURI", "InvalidArgument", "KeyTooLongError", "InvalidRequest")
    assert s3.relay.requests == []
