"""boto3 against the proxy in front of moto: GET, HEAD, ranges, conditionals, ETags, errors."""

from __future__ import annotations

import asyncio
import hashlib
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from tests.adapters.s3.conftest import Client, S3Proxy

MiB = 1 << 20


def put_multipart(client: Client, bucket: str, key: str, body: bytes, part: int = 5 * MiB) -> str:
    upload = client.create_multipart_upload(Bucket=bucket, Key=key)
    parts = []
    for n, start in enumerate(range(0, len(body), part), start=1):
        r = client.upload_part(Bucket=bucket, Key=key, UploadId=upload["UploadId"], PartNumber=n,
                               Body=body[start:start + part])
        parts.append({"ETag": r["ETag"], "PartNumber": n})
    done = client.complete_multipart_upload(Bucket=bucket, Key=key, UploadId=upload["UploadId"],
                                            MultipartUpload={"Parts": parts})
    return str(done["ETag"])


def code(exc: pytest.ExceptionInfo[ClientError]) -> str:
    return str(exc.value.response["Error"]["Code"])


async def test_get_head_list_agree_and_etag_passes_through(s3: S3Proxy, direct: Client, bucket: str) -> None:
    small, big = os.urandom(1000), os.urandom(11 * MiB + 3)
    direct.put_object(Bucket=bucket, Key="m/config.json", Body=small)
    multipart_etag = await asyncio.to_thread(put_multipart, direct, bucket, "m/model.bin", big)
    assert multipart_etag.endswith('-3"')
    client = s3.client()
    listing = await asyncio.to_thread(client.list_objects_v2, Bucket=bucket, Prefix="m/")
    entries = {e["Key"]: e for e in listing["Contents"]}
    for key, body in (("m/config.json", small), ("m/model.bin", big)):
        upstream_etag = direct.head_object(Bucket=bucket, Key=key)["ETag"]
        head = await asyncio.to_thread(client.head_object, Bucket=bucket, Key=key)
        got = await asyncio.to_thread(client.get_object, Bucket=bucket, Key=key)
        data = await asyncio.to_thread(got["Body"].read)
        assert data == body
        assert head["ETag"] == got["ETag"] == entries[key]["ETag"] == upstream_etag
        assert head["ContentLength"] == entries[key]["Size"] == len(body)
        assert head["LastModified"] == got["LastModified"]
    assert s3.relay.count("GET", f"/{bucket}/m/model.bin") == 1
    again = await asyncio.to_thread(client.get_object, Bucket=bucket, Key="m/model.bin")
    assert again["ResponseMetadata"]["HTTPHeaders"]["x-cache"] == "hit"
    assert s3.relay.count("GET", f"/{bucket}/m/model.bin") == 1


async def test_ranges(s3: S3Proxy, direct: Client, bucket: str) -> None:
    body = os.urandom(3 * MiB)
    direct.put_object(Bucket=bucket, Key="r.bin", Body=body)
    client = s3.client()
    size = len(body)
    for header, want, content_range in (
            ("bytes=100-199", body[100:200], f"bytes 100-199/{size}"),
            ("bytes=-10", body[-10:], f"bytes {size - 10}-{size - 1}/{size}"),
            (f"bytes={size - 100}-", body[-100:], f"bytes {size - 100}-{size - 1}/{size}")):
        r = await asyncio.to_thread(client.get_object, Bucket=bucket, Key="r.bin", Range=header)
        assert r["ResponseMetadata"]["HTTPStatusCode"] == 206
        assert r["ContentRange"] == content_range
        assert await asyncio.to_thread(r["Body"].read) == want
        assert not any(h.startswith("x-amz-checksum-") for h in r["ResponseMetadata"]["HTTPHeaders"])
    with pytest.raises(ClientError) as exc:
        await asyncio.to_thread(client.get_object, Bucket=bucket, Key="r.bin", Range="bytes=99999999-")
    assert code(exc) == "InvalidRange"
    assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 416


async def test_conditionals(s3: S3Proxy, direct: Client, bucket: str) -> None:
    direct.put_object(Bucket=bucket, Key="c.bin", Body=b"x" * 1000)
    client = s3.client()
    etag = (await asyncio.to_thread(client.head_object, Bucket=bucket, Key="c.bin"))["ETag"]
    ok = await asyncio.to_thread(client.get_object, Bucket=bucket, Key="c.bin", Range="bytes=0-0", IfMatch=etag)
    assert await asyncio.to_thread(ok["Body"].read) == b"x"
    with pytest.raises(ClientError) as exc:
        await asyncio.to_thread(client.get_object, Bucket=bucket, Key="c.bin", IfMatch='"abc"')
    assert code(exc) == "PreconditionFailed"
    with pytest.raises(ClientError) as exc:
        await asyncio.to_thread(client.head_object, Bucket=bucket, Key="c.bin", IfNoneMatch=etag)
    assert code(exc) == "304"
    with pytest.raises(ClientError) as exc:
        await asyncio.to_thread(client.get_object, Bucket=bucket, Key="c.bin", IfNoneMatch=etag)
    assert code(exc) == "304"
    with pytest.raises(ClientError) as exc:
        await asyncio.to_thread(client.get_object, Bucket=bucket, Key="c.bin",
                                IfUnmodifiedSince="2000-01-01T00:00:00Z")
    assert code(exc) == "PreconditionFailed"
    with pytest.raises(ClientError) as exc:
        await asyncio.to_thread(client.head_object, Bucket=bucket, Key="c.bin",
                                IfModifiedSince="2100-01-01T00:00:00Z")
    assert code(exc) == "304"


async def test_missing_key_and_bucket(s3: S3Proxy, bucket: str) -> None:
    client = s3.client()
    with pytest.raises(ClientError) as exc:
        await asyncio.to_thread(client.get_object, Bucket=bucket, Key="nope")
    assert code(exc) == "NoSuchKey"
    with pytest.raises(ClientError) as exc:
        await asyncio.to_thread(client.head_object, Bucket=bucket, Key="nope")
    assert code(exc) == "404"
    with pytest.raises(ClientError) as exc:
        await asyncio.to_thread(client.list_objects_v2, Bucket="no-such-bucket-here")
    assert code(exc) == "NoSuchBucket"
    with pytest.raises(ClientError) as exc:
        await asyncio.to_thread(client.get_object, Bucket="no-such-bucket-here", Key="k")
    assert code(exc) == "NoSuchBucket"


async def test_download_file_ranged_with_if_match_fetches_once(s3: S3Proxy, direct: Client, bucket: str,
                                                               tmp_path: Path) -> None:
    body = os.urandom(20 * MiB + 5)
    direct.put_object(Bucket=bucket, Key="big.bin", Body=body)
    client = s3.client()
    for name in ("cold", "warm"):
        await asyncio.to_thread(client.download_file, bucket, "big.bin", str(tmp_path / name))
        assert hashlib.sha256((tmp_path / name).read_bytes()).digest() == hashlib.sha256(body).digest()
    ranged = [r for r in s3.relay.requests if r.raw_path == f"/{bucket}/big.bin"]
    assert [r.method for r in ranged] == ["GET"], "one upstream body fetch, no HEAD of our own"
    assert "Range" not in ranged[0].headers


async def test_keys_with_space_plus_equals_unicode_round_trip(s3: S3Proxy, direct: Client, bucket: str) -> None:
    keys = ["dir/sub dir/weird+name=1.txt", "dir/ünïcødé 模型.json", "dir/a%2Fb~c.txt"]
    for i, key in enumerate(keys):
        direct.put_object(Bucket=bucket, Key=key, Body=f"body {i}".encode())
    client = s3.client()
    pages = client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix="dir/")
    listed = await asyncio.to_thread(lambda: [e["Key"] for p in pages for e in p.get("Contents", [])])
    assert sorted(listed) == sorted(keys)
    for i, key in enumerate(keys):
        got = await asyncio.to_thread(client.get_object, Bucket=bucket, Key=key)
        assert await asyncio.to_thread(got["Body"].read) == f"body {i}".encode()
    delimited = await asyncio.to_thread(client.list_objects_v2, Bucket=bucket, Prefix="dir/", Delimiter="/")
    assert [p["Prefix"] for p in delimited["CommonPrefixes"]] == ["dir/sub dir/"]


async def test_pagination_start_after_and_listing_cache(s3: S3Proxy, direct: Client, bucket: str) -> None:
    for i in range(25):
        direct.put_object(Bucket=bucket, Key=f"many/f{i:03d}.txt", Body=b"")
    client = s3.client()
    pages = client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix="many/",
                                                            PaginationConfig={"PageSize": 10})
    sizes = await asyncio.to_thread(lambda: [len(p["Contents"]) for p in pages])
    assert sizes == [10, 10, 5]
    after = await asyncio.to_thread(client.list_objects_v2, Bucket=bucket, Prefix="many/",
                                    StartAfter="many/f010.txt", MaxKeys=3)
    assert [e["Key"] for e in after["Contents"]] == ["many/f011.txt", "many/f012.txt", "many/f013.txt"]
    before = len(s3.relay.requests)
    await asyncio.to_thread(client.list_objects_v2, Bucket=bucket, Prefix="many/", StartAfter="many/f010.txt",
                            MaxKeys=3)
    assert len(s3.relay.requests) == before, "a repeated listing within the TTL is served from memory"


async def test_a_listing_larger_than_one_read_is_passed_whole(s3: S3Proxy, direct: Client, bucket: str) -> None:
    keys = [f"{i:03d}/" + "x" * 900 for i in range(400)]  # ~400 KB of XML: many socket reads
    with ThreadPoolExecutor(16) as pool:
        list(pool.map(lambda k: direct.put_object(Bucket=bucket, Key=k, Body=b"1"), keys))
    got = await asyncio.to_thread(s3.client().list_objects_v2, Bucket=bucket)
    assert [e["Key"] for e in got["Contents"]] == keys
