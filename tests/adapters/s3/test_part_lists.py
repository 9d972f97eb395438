"""CompleteMultipartUpload bodies are read as XML (defusedxml) before they go upstream: malformed or
hostile part lists are answered MalformedXML (400) by the proxy and never forwarded; the upstream's
answer is read as XML too, to tell a completed upload from a 200 that carries an error."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

import aiohttp
import pytest
from yarl import URL

from adapters.s3 import sigv4
from adapters.s3.multipart import completion
from tests.adapters.s3.conftest import Client, S3Proxy
from tests.fakes.s3_servers import ACCESS_KEY, SECRET_KEY

GOOD = (b'<CompleteMultipartUpload xmlns="http://s3.amazonaws.com/doc/2006-03-01/">'
        b'<Part><ETag>"abc"</ETag><PartNumber>1</PartNumber></Part></CompleteMultipartUpload>')
BOMB = (b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;">]>'
        b'<CompleteMultipartUpload><Part><ETag>&lol2;</ETag><PartNumber>1</PartNumber></Part>'
        b'</CompleteMultipartUpload>')


@pytest.fixture
async def s3(start_s3: Callable[..., Awaitable[S3Proxy]]) -> S3Proxy:
    """Completing an upload is a write: writes are turned on explicitly (read-only by default)."""
    return await start_s3(s3_allow_writes=True)


async def complete(s3: S3Proxy, bucket: str, body: bytes, upload_id: str = "never-asked") -> tuple[int, bytes]:
    """A CompleteMultipartUpload signed as a client would sign it, with ``body`` as the part list."""
    url = URL(s3.endpoint)
    raw_path, query = f"/s3/{bucket}/m.bin", [("uploadId", upload_id)]
    headers = sigv4.sign("POST", f"{url.host}:{url.port}", raw_path, query, {},
                         sigv4.Credentials(ACCESS_KEY, SECRET_KEY), "us-east-1", datetime.now(UTC),
                         payload_hash=hashlib.sha256(body).hexdigest())
    target = URL(f"{url.origin()}{raw_path}?{sigv4.canonical_query(query)}", encoded=True)
    async with aiohttp.ClientSession() as session, session.post(target, data=body, headers=headers) as r:
        return r.status, await r.read()


@pytest.mark.parametrize("body", [
    b"", b"not xml", b"<CompleteMultipartUpload><Part>", GOOD.replace(b"</CompleteMultipartUpload>", b""),
    b"<Something/>", b"<CompleteMultipartUpload/>", b"<CompleteMultipartUpload><Other/></CompleteMultipartUpload>",
    b"<CompleteMultipartUpload><Part><ETag>x</ETag></Part></CompleteMultipartUpload>", BOMB,
])
async def test_malformed_part_lists_are_refused_at_the_edge(s3: S3Proxy, bucket: str, body: bytes) -> None:
    status, reply = await complete(s3, bucket, body)
    assert status == 400
    assert b"<Code>MalformedXML</Code>" in reply
    assert [r for r in s3.relay.requests if r.method == "POST"] == [], "never forwarded"


async def test_a_well_formed_part_list_goes_upstream(s3: S3Proxy, direct: Client, bucket: str) -> None:
    client = s3.client()
    upload_id = (await asyncio.to_thread(client.create_multipart_upload, Bucket=bucket, Key="m.bin"))["UploadId"]
    part = await asyncio.to_thread(client.upload_part, Bucket=bucket, Key="m.bin", PartNumber=1,
                                   UploadId=upload_id, Body=b"tiny")
    status, reply = await complete(s3, bucket, GOOD.replace(b'"abc"', part["ETag"].encode()), upload_id)
    assert status == 200
    assert completion(reply) is not None
    assert direct.get_object(Bucket=bucket, Key="m.bin")["Body"].read() == b"tiny"
    await s3.frontend.warmer.settle()
    fills = [r for r in s3.relay.requests if r.method == "GET" and r.raw_path == f"/{bucket}/m.bin"]
    assert len(fills) == 1, "the result was read as a completion: the new object was filled once"


def test_completion_reads_the_result_and_its_etag() -> None:
    result = (b'<?xml version="1.0" encoding="UTF-8"?><CompleteMultipartUploadResult '
              b'xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Bucket>b</Bucket><Key>k</Key>'
              b'<ETag>&quot;3858f62230ac3c915f300c664312c11f-9&quot;</ETag></CompleteMultipartUploadResult>')
    assert completion(result) == {"Bucket": "b", "Key": "k", "ETag": '"3858f62230ac3c915f300c664312c11f-9"'}


@pytest.mark.parametrize("reply", [
    b"<Error><Code>InternalError</Code><Message>We encountered an internal error.</Message></Error>",
    b"", b"<CompleteMultipartUploadResult>", BOMB,
])
def test_anything_else_is_not_a_completion(reply: bytes) -> None:
    assert completion(reply) is None
