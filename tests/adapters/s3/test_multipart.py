"""Multipart uploads through the proxy: forwarded to the upstream, re-signed, answers passed through;
after the upload completes the object is filled once, and later reads are hits with its ``-N`` ETag."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from boto3.s3.transfer import TransferConfig
from botocore.exceptions import ClientError

from proxy import appkeys
from tests.adapters.s3.conftest import Client, S3Proxy
from tests.adapters.s3.test_clients import aws

MiB = 1 << 20
FORCE_MULTIPART = TransferConfig(multipart_threshold=5 * MiB, multipart_chunksize=5 * MiB, max_concurrency=4)


@pytest.fixture
async def s3(start_s3: Callable[..., Awaitable[S3Proxy]]) -> S3Proxy:
    """These tests write: writes are turned on explicitly (the S3 API is read-only by default)."""
    return await start_s3(s3_allow_writes=True)


def cached(s3: S3Proxy, bucket: str, key: str) -> bool:
    return s3.proxy.app[appkeys.CACHE].index.get(f"s3:{bucket}/{key}") is not None


def blobs(s3: S3Proxy) -> list[Path]:
    return [p for p in s3.proxy.app[appkeys.CACHE].store.layout.blobs.rglob("*") if p.is_file()]


def object_gets(s3: S3Proxy, path: str) -> int:
    """Upstream GETs of the object itself (not ListParts, which is a GET of the key with ``?uploadId``)."""
    return sum(1 for r in s3.relay.requests if r.method == "GET" and r.raw_path == path)


def upstream_writes(s3: S3Proxy) -> list[str]:
    return [f"{r.method} {r.raw_path}" for r in s3.relay.requests if r.method in ("PUT", "POST", "DELETE")]


async def test_upload_file_multipart_writes_through_and_the_next_read_is_a_hit(
        s3: S3Proxy, direct: Client, bucket: str, tmp_path: Path) -> None:
    body = os.urandom(20 * MiB + 3)
    (tmp_path / "model.bin").write_bytes(body)
    client = s3.client()
    listed = await asyncio.to_thread(client.list_objects_v2, Bucket=bucket)
    assert "Contents" not in listed  # now cached: the upload must invalidate it

    await asyncio.to_thread(client.upload_file, str(tmp_path / "model.bin"), bucket, "ft/model.bin",
                            Config=FORCE_MULTIPART, ExtraArgs={"Metadata": {"base": "tiny"}})

    path = f"/{bucket}/ft/model.bin"
    assert s3.relay.count("POST", path, "uploads") == 1
    assert s3.relay.count("PUT", path, "partNumber=") == 5
    assert s3.relay.count("POST", path, "uploadId=") == 1
    for write in (r for r in s3.relay.requests if r.method != "GET"):
        assert "Credential=upstream-key/" in write.headers["Authorization"], "re-signed with the proxy's key"
    upstream = direct.get_object(Bucket=bucket, Key="ft/model.bin")
    assert upstream["Body"].read() == body
    assert upstream["ETag"].endswith('-5"')

    await s3.frontend.warmer.settle()
    assert object_gets(s3, path) == 1, "one fill after the upload completed"
    assert cached(s3, bucket, "ft/model.bin")

    head = await asyncio.to_thread(client.head_object, Bucket=bucket, Key="ft/model.bin")
    assert head["ResponseMetadata"]["HTTPHeaders"]["etag"] == upstream["ResponseMetadata"]["HTTPHeaders"]["etag"]
    got = await asyncio.to_thread(client.get_object, Bucket=bucket, Key="ft/model.bin")
    assert await asyncio.to_thread(got["Body"].read) == body
    assert got["ResponseMetadata"]["HTTPHeaders"]["x-cache"] == "hit"
    assert got["ResponseMetadata"]["HTTPHeaders"]["etag"] == upstream["ResponseMetadata"]["HTTPHeaders"]["etag"]
    assert got["Metadata"] == {"base": "tiny"}
    await asyncio.to_thread(client.download_file, bucket, "ft/model.bin", str(tmp_path / "back.bin"),
                            Config=FORCE_MULTIPART)
    assert (tmp_path / "back.bin").read_bytes() == body
    assert object_gets(s3, path) == 1, "every read after the fill is served from the cache"

    listed = await asyncio.to_thread(client.list_objects_v2, Bucket=bucket)
    assert [(e["Key"], e["ETag"]) for e in listed["Contents"]] == [("ft/model.bin", upstream["ETag"])]


async def test_multipart_upload_replaces_a_cached_older_version(s3: S3Proxy, direct: Client, bucket: str) -> None:
    direct.put_object(Bucket=bucket, Key="w.bin", Body=b"old")
    client = s3.client()
    got = await asyncio.to_thread(client.get_object, Bucket=bucket, Key="w.bin")
    assert await asyncio.to_thread(got["Body"].read) == b"old"
    parts = [os.urandom(5 * MiB), b"tail"]
    upload = await asyncio.to_thread(client.create_multipart_upload, Bucket=bucket, Key="w.bin")
    etags = []
    for number, part in enumerate(parts, 1):
        answer = await asyncio.to_thread(client.upload_part, Bucket=bucket, Key="w.bin", PartNumber=number,
                                         UploadId=upload["UploadId"], Body=part)
        etags.append(answer["ETag"])
    done = await asyncio.to_thread(
        client.complete_multipart_upload, Bucket=bucket, Key="w.bin", UploadId=upload["UploadId"],
        MultipartUpload={"Parts": [{"PartNumber": n, "ETag": e} for n, e in enumerate(etags, 1)]})
    assert done["ETag"] == direct.head_object(Bucket=bucket, Key="w.bin")["ETag"]
    assert done["ETag"].endswith('-2"')
    await s3.frontend.warmer.settle()
    got = await asyncio.to_thread(client.get_object, Bucket=bucket, Key="w.bin")
    assert await asyncio.to_thread(got["Body"].read) == b"".join(parts)
    assert (got["ETag"], got["ResponseMetadata"]["HTTPHeaders"]["x-cache"]) == (done["ETag"], "hit")


async def test_aws_cli_cp_of_a_large_file_goes_multipart(s3: S3Proxy, direct: Client, bucket: str,
                                                         tmp_path: Path) -> None:
    body = os.urandom(20 * MiB + 11)
    (tmp_path / "weights.safetensors").write_bytes(body)
    await aws(s3, tmp_path, "s3", "cp", "--only-show-errors", str(tmp_path / "weights.safetensors"),
              f"s3://{bucket}/m/weights.safetensors")
    path = f"/{bucket}/m/weights.safetensors"
    assert s3.relay.count("POST", path, "uploads") == 1
    upstream = direct.get_object(Bucket=bucket, Key="m/weights.safetensors")
    assert upstream["Body"].read() == body
    assert upstream["ETag"].endswith(f'-{s3.relay.count("PUT", path, "partNumber=")}"')
    await s3.frontend.warmer.settle()
    await aws(s3, tmp_path, "s3", "cp", "--only-show-errors", f"s3://{bucket}/m/weights.safetensors",
              str(tmp_path / "back.safetensors"))
    assert (tmp_path / "back.safetensors").read_bytes() == body
    assert object_gets(s3, path) == 1


async def test_aborted_upload_leaves_nothing_cached(s3: S3Proxy, direct: Client, bucket: str) -> None:
    client = s3.client()
    upload_id = (await asyncio.to_thread(client.create_multipart_upload, Bucket=bucket, Key="a.bin"))["UploadId"]
    part = await asyncio.to_thread(client.upload_part, Bucket=bucket, Key="a.bin", PartNumber=1,
                                   UploadId=upload_id, Body=os.urandom(MiB))
    listed = await asyncio.to_thread(client.list_parts, Bucket=bucket, Key="a.bin", UploadId=upload_id)
    assert [(p["PartNumber"], p["ETag"]) for p in listed["Parts"]] == [(1, part["ETag"])]
    uploads = await asyncio.to_thread(client.list_multipart_uploads, Bucket=bucket)
    assert [u["UploadId"] for u in uploads["Uploads"]] == [upload_id]

    aborted = await asyncio.to_thread(client.abort_multipart_upload, Bucket=bucket, Key="a.bin", UploadId=upload_id)
    assert aborted["ResponseMetadata"]["HTTPStatusCode"] == 204
    uploads = await asyncio.to_thread(client.list_multipart_uploads, Bucket=bucket)
    assert "Uploads" not in uploads
    with pytest.raises(ClientError) as exc:  # the upstream's error, passed through
        await asyncio.to_thread(client.list_parts, Bucket=bucket, Key="a.bin", UploadId=upload_id)
    assert exc.value.response["Error"]["Code"] == "NoSuchUpload"

    await s3.frontend.warmer.settle()
    assert not cached(s3, bucket, "a.bin")
    assert blobs(s3) == []
    assert object_gets(s3, f"/{bucket}/a.bin") == 0
    with pytest.raises(ClientError):
        direct.head_object(Bucket=bucket, Key="a.bin")


async def test_upload_part_with_a_wrong_secret_never_reaches_upstream(s3: S3Proxy, bucket: str) -> None:
    client = s3.client()
    upload_id = (await asyncio.to_thread(client.create_multipart_upload, Bucket=bucket, Key="s.bin"))["UploadId"]
    before = upstream_writes(s3)
    with pytest.raises(ClientError) as exc:
        await asyncio.to_thread(s3.client(secret_key="WRONG").upload_part, Bucket=bucket, Key="s.bin",
                                PartNumber=1, UploadId=upload_id, Body=os.urandom(MiB))
    assert exc.value.response["Error"]["Code"] == "SignatureDoesNotMatch"
    assert upstream_writes(s3) == before
    await asyncio.to_thread(client.abort_multipart_upload, Bucket=bucket, Key="s.bin", UploadId=upload_id)


async def test_multipart_is_refused_when_writes_are_off(start_s3: Callable[..., Awaitable[S3Proxy]],
                                                      bucket: str) -> None:
    s3 = await start_s3(s3_allow_writes=True, s3_write_through=False)
    with pytest.raises(ClientError) as exc:
        await asyncio.to_thread(s3.client().create_multipart_upload, Bucket=bucket, Key="x.bin")
    assert exc.value.response["Error"]["Code"] == "NotImplemented"
    assert s3.relay.requests == []
