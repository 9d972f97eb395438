"""A bucket routed to GCS (``--s3-route models=gs://<bucket>``), listed and read through the proxy's
S3 API by boto3 and the aws CLI exactly like an S3 bucket; fake-gcs-server behind a counting relay."""

from __future__ import annotations

import asyncio
import hashlib
import os
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.adapters.gcs.conftest import GcsProxy
from tests.adapters.gcs.test_fetch import get
from tests.fakes.gcs_server import GcsAdmin
from tests.fakes.s3_servers import ACCESS_KEY, SECRET_KEY
from tests.routed_pins import pinned_prefix_survives_eviction
from tests.s3_clients import FOLDER, LISTINGS, MiB, aws, client, expected, herd, listed


@pytest.fixture
async def routed(start_gcs: Callable[..., Awaitable[GcsProxy]], gcs: GcsAdmin, gcs_bucket: str) -> GcsProxy:
    for key, body in FOLDER.items():
        await gcs.upload(gcs_bucket, key, body)
    return await start_gcs(s3_route=(f"models=gs://{gcs_bucket}",), s3_client_keys=f"{ACCESS_KEY}:{SECRET_KEY}")


def endpoint(gp: GcsProxy) -> str:
    return str(gp.proxy.server.make_url("/s3"))


@pytest.mark.parametrize("params", LISTINGS)
async def test_boto3_lists_with_delimiters_and_pages(routed: GcsProxy, params: dict[str, Any]) -> None:
    keys, prefixes, pages = await listed(client(endpoint(routed)), "models", params)
    assert (keys, prefixes) == expected(FOLDER, params["Prefix"], params.get("Delimiter"))
    if params.get("PaginationConfig"):
        assert pages > 1


async def test_boto3_reads_byte_exact_with_md5_etags_and_ranges(routed: GcsProxy) -> None:
    s3 = client(endpoint(routed))
    key = "tiny-llm/model.safetensors"
    body = FOLDER[key]
    md5 = f'"{hashlib.md5(body).hexdigest()}"'
    head = await asyncio.to_thread(s3.head_object, Bucket="models", Key=key)
    entry = (await asyncio.to_thread(s3.list_objects_v2, Bucket="models", Prefix=key))["Contents"][0]
    assert head["ETag"] == entry["ETag"] == md5
    assert head["ContentLength"] == entry["Size"] == len(body)
    got = await asyncio.to_thread(s3.get_object, Bucket="models", Key=key)
    assert await asyncio.to_thread(got["Body"].read) == body
    assert got["ETag"] == md5
    part = await asyncio.to_thread(s3.get_object, Bucket="models", Key=key, Range="bytes=100-199", IfMatch=md5)
    assert await asyncio.to_thread(part["Body"].read) == body[100:200]
    weird = await asyncio.to_thread(s3.get_object, Bucket="models", Key="tiny-llm/sub dir/weird+name=1.txt")
    assert await asyncio.to_thread(weird["Body"].read) == b"weird"
    with pytest.raises(ClientError) as caught:
        await asyncio.to_thread(s3.get_object, Bucket="models", Key="tiny-llm/nope")
    assert caught.value.response["Error"]["Code"] == "NoSuchKey"
    downloads = [r for r in routed.relay.bodies() if "model.safetensors" in r.raw_path and r.status == 200]
    assert len(downloads) == 1, "one fill served every read"


async def test_aws_cli_copies_and_lists(routed: GcsProxy, tmp_path: Path) -> None:
    await aws(endpoint(routed), tmp_path, "s3", "cp", "--recursive", "--only-show-errors", "s3://models/tiny-llm/",
              str(tmp_path / "cp"))
    copied = {str(p.relative_to(tmp_path / "cp")): p.read_bytes() for p in (tmp_path / "cp").rglob("*") if p.is_file()}
    assert copied == {k.removeprefix("tiny-llm/"): v for k, v in FOLDER.items() if k.startswith("tiny-llm/")}
    out = await aws(endpoint(routed), tmp_path, "s3", "ls", "s3://models/many/")
    assert sorted(line.split()[-1] for line in out.splitlines()) == sorted(
        [f"d{i}/" for i in range(4)] + [f"f{i:03d}.txt" for i in range(23)])


async def test_cold_herd_of_16_boto3_clients_is_one_upstream_get(routed: GcsProxy, gcs: GcsAdmin,
                                                                 gcs_bucket: str) -> None:
    body = os.urandom(4 * MiB)
    await gcs.upload(gcs_bucket, "herd.bin", body)
    await herd(endpoint(routed), routed.relay, body)
    assert len([r for r in routed.relay.bodies() if "herd.bin" in r.raw_path]) == 1


async def test_a_pin_through_the_s3_api_keeps_the_gcs_entries_it_filled(
        start_gcs: Callable[..., Awaitable[GcsProxy]], gcs: GcsAdmin, gcs_bucket: str, cache_dir: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    for key, body in FOLDER.items():
        await gcs.upload(gcs_bucket, key, body)
    gp = await start_gcs(s3_route=(f"models=gs://{gcs_bucket}",), s3_client_keys=f"{ACCESS_KEY}:{SECRET_KEY}",
                         disk_quota_bytes=1, eviction_interval=3600)
    await pinned_prefix_survives_eviction(gp.proxy, gp.relay, f"gs:{gcs_bucket}/tiny-llm/", cache_dir, capsys)
    downloads = len(gp.relay.bodies())
    status, got, headers = await get(gp, f"gs://{gcs_bucket}/tiny-llm/config.json")
    assert (status, got, headers["X-Cache"]) == (200, FOLDER["tiny-llm/config.json"], "hit"), \
        "the S3 API and gs:// URLs share one entry"
    assert len(gp.relay.bodies()) == downloads
