"""Buckets routed to an ObjectStore (here an S3 bucket named differently upstream, and a store
factory registered for gs://): listed, headed and read through the S3 API exactly like a native S3
bucket, with moto behind a counting relay; unknown buckets are NoSuchBucket."""

from __future__ import annotations

import asyncio
import hashlib
import os
import threading
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from aiohttp import ClientSession
from botocore.exceptions import ClientError
from yarl import URL

from adapters.s3.bucketroutes import RoutesError
from adapters.s3.credentials import Static
from adapters.s3.s3store import S3Store
from adapters.s3.sigv4 import Credentials
from adapters.s3.upstream import Endpoint, S3Upstream
from proxy.__main__ import build_app
from proxy.config import Settings
from proxy.objectstore import ObjectStore
from tests.adapters.s3.conftest import Client, S3Proxy, make_client
from tests.adapters.s3.test_clients import AWS
from tests.conftest import ServerFactory
from tests.control import prefetch
from tests.fakes.s3_servers import ACCESS_KEY, SECRET_KEY, CountingRelay, iter_files

MiB = 1 << 20
FOLDER = {
    "tiny-llm/config.json": b'{"model_type": "llama"}',
    "tiny-llm/model.safetensors": os.urandom(3 * MiB + 7),
    "tiny-llm/sub dir/weird+name=1.txt": b"weird",
    "tiny-llm/tokenizer \u00fc.json": b"{}",
    **{f"many/f{i:03d}.txt": f"file {i}".encode() for i in range(23)},
    **{f"many/d{i}/x.txt": b"x" for i in range(4)},
}


def routes_file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "routes.yaml"
    path.write_text(text)
    return path


@pytest.fixture
async def aliased(start_s3: Callable[..., Awaitable[S3Proxy]], relay: tuple[CountingRelay, str], direct: Client,
                  bucket: str, tmp_path: Path) -> S3Proxy:
    """``alias`` is ``bucket`` upstream (the ObjectStore path); every other bucket goes to moto natively."""
    for key, body in FOLDER.items():
        direct.put_object(Bucket=bucket, Key=key, Body=body)
    path = routes_file(tmp_path, f"buckets:\n  alias:\n    upstream: {relay[1]}\n    bucket: {bucket}\n")
    return await start_s3(s3_routes=path)


def _entries(pages: list[dict[str, Any]]) -> tuple[list[tuple[str, str, int]], list[str]]:
    objects = [(o["Key"], o["ETag"], o["Size"]) for p in pages for o in p.get("Contents", [])]
    prefixes = [c["Prefix"] for p in pages for c in p.get("CommonPrefixes", [])]
    return objects, prefixes


def _pages(client: Client, operation: str, args: dict[str, Any]) -> list[dict[str, Any]]:
    return list(client.get_paginator(operation).paginate(Bucket="alias", **args))


@pytest.mark.parametrize("params", [
    {"Prefix": "tiny-llm/"},
    {"Prefix": "tiny-llm/", "Delimiter": "/"},
    {"Prefix": "many/", "Delimiter": "/", "PaginationConfig": {"PageSize": 4}},
    {"Prefix": "many/", "PaginationConfig": {"PageSize": 7}},
    {"Prefix": "many/", "StartAfter": "many/f010.txt", "PaginationConfig": {"PageSize": 5}},
    {"Prefix": "", "Delimiter": "/"},
    {"Prefix": "nothing/"},
])
async def test_listings_equal_the_upstream_listing(aliased: S3Proxy, direct: Client, bucket: str,
                                                   params: dict[str, Any]) -> None:
    client = aliased.client()
    # The reference is moto's V2 listing for both: moto's own V1 repeats common prefixes on every page.
    theirs = list(direct.get_paginator("list_objects_v2").paginate(Bucket=bucket, **params))
    for operation in ("list_objects_v2", "list_objects"):
        args = dict(params)
        if operation == "list_objects" and "StartAfter" in args:
            args["Marker"] = args.pop("StartAfter")
        mine = await asyncio.to_thread(_pages, client, operation, args)
        assert _entries(mine) == _entries(theirs), operation
        if args.get("PaginationConfig", {}).get("PageSize"):
            assert len(mine) == len(theirs) > 1
        assert all(p["Name"] == "alias" for p in mine)


async def test_objects_read_like_native_ones(aliased: S3Proxy, direct: Client, bucket: str) -> None:
    client = aliased.client()
    key = "tiny-llm/model.safetensors"
    body = FOLDER[key]
    etag = direct.head_object(Bucket=bucket, Key=key)["ETag"]
    listed = (await asyncio.to_thread(client.list_objects_v2, Bucket="alias", Prefix=key))["Contents"][0]
    head = await asyncio.to_thread(client.head_object, Bucket="alias", Key=key)
    assert listed["ETag"] == head["ETag"] == etag
    assert listed["Size"] == head["ContentLength"] == len(body)
    got = await asyncio.to_thread(client.get_object, Bucket="alias", Key=key)
    assert await asyncio.to_thread(got["Body"].read) == body
    assert got["ETag"] == etag
    part = await asyncio.to_thread(client.get_object, Bucket="alias", Key=key, Range="bytes=100-199")
    assert await asyncio.to_thread(part["Body"].read) == body[100:200]
    assert part["ContentRange"] == f"bytes 100-199/{len(body)}"
    tail = await asyncio.to_thread(client.get_object, Bucket="alias", Key=key, Range="bytes=-10", IfMatch=etag)
    assert await asyncio.to_thread(tail["Body"].read) == body[-10:]
    for call, code in ((lambda: client.get_object(Bucket="alias", Key=key, IfMatch='"abc"'), "PreconditionFailed"),
                       (lambda: client.head_object(Bucket="alias", Key=key, IfNoneMatch=etag), "304"),
                       (lambda: client.get_object(Bucket="alias", Key=key, Range="bytes=99999999-"), "InvalidRange"),
                       (lambda: client.get_object(Bucket="alias", Key="tiny-llm/nope"), "NoSuchKey"),
                       (lambda: client.put_object(Bucket="alias", Key="w", Body=b"1"), "AccessDenied")):
        with pytest.raises(ClientError) as exc:
            await asyncio.to_thread(call)
        assert exc.value.response["Error"]["Code"] == code
    weird = await asyncio.to_thread(client.get_object, Bucket="alias", Key="tiny-llm/sub dir/weird+name=1.txt")
    assert await asyncio.to_thread(weird["Body"].read) == b"weird"
    await asyncio.to_thread(client.head_bucket, Bucket="alias")
    assert (await asyncio.to_thread(client.get_bucket_location, Bucket="alias"))["LocationConstraint"] is None
    fetched = [r.status for r in aliased.relay.requests if r.raw_path == f"/{bucket}/tiny-llm/model.safetensors"]
    assert fetched.count(200) == 1, f"one fill served every read (the rest are revalidations): {fetched}"


async def test_aws_cli_copies_and_lists_a_routed_bucket(aliased: S3Proxy, tmp_path: Path) -> None:
    env = {"PATH": os.environ.get("PATH", ""), "HOME": str(tmp_path), "AWS_ACCESS_KEY_ID": ACCESS_KEY,
           "AWS_SECRET_ACCESS_KEY": SECRET_KEY, "AWS_DEFAULT_REGION": "us-east-1",
           "AWS_ENDPOINT_URL": aliased.endpoint, "AWS_EC2_METADATA_DISABLED": "true",
           "AWS_CONFIG_FILE": "/dev/null", "AWS_SHARED_CREDENTIALS_FILE": "/dev/null"}

    async def aws(*args: str) -> str:
        process = await asyncio.create_subprocess_exec(AWS, *args, env=env, stdout=asyncio.subprocess.PIPE,
                                                       stderr=asyncio.subprocess.PIPE)
        out, err = await process.communicate()
        assert process.returncode == 0, (out + err).decode()
        return out.decode()

    await aws("s3", "cp", "--recursive", "--only-show-errors", "s3://alias/tiny-llm/", str(tmp_path / "cp"))
    assert dict(iter_files(tmp_path / "cp")) == {k.removeprefix("tiny-llm/"): v for k, v in FOLDER.items()
                                                 if k.startswith("tiny-llm/")}
    listed = await aws("s3", "ls", "s3://alias/many/")
    assert sorted(line.split()[-1] for line in listed.splitlines()) == sorted(
        [f"d{i}/" for i in range(4)] + [f"f{i:03d}.txt" for i in range(23)])


async def test_cold_herd_of_16_on_a_routed_bucket_is_one_upstream_get(aliased: S3Proxy, direct: Client,
                                                                      bucket: str) -> None:
    body = os.urandom(4 * MiB)
    direct.put_object(Bucket=bucket, Key="herd.bin", Body=body)
    aliased.relay.gate = asyncio.Event()
    loop = asyncio.get_running_loop()
    n = 16
    first_bytes = [asyncio.Event() for _ in range(n)]
    proceed = threading.Event()
    clients = [aliased.client() for _ in range(n)]

    def reader(i: int) -> str:
        got = clients[i].get_object(Bucket="alias", Key="herd.bin")["Body"]
        head = got.read(1024)
        loop.call_soon_threadsafe(first_bytes[i].set)
        proceed.wait(60)
        return hashlib.sha256(head + got.read()).hexdigest()

    with ThreadPoolExecutor(n) as pool:
        tasks = [loop.run_in_executor(pool, reader, i) for i in range(n)]
        try:
            await asyncio.wait_for(asyncio.gather(*(e.wait() for e in first_bytes)), 60)
            assert aliased.relay.bodies_done == 0, "every client had bytes while the upstream body was held"
        finally:
            aliased.relay.gate.set()
            proceed.set()
        assert await asyncio.gather(*tasks) == [hashlib.sha256(body).hexdigest()] * n
    assert aliased.relay.count("GET", f"/{bucket}/herd.bin") == 1


async def test_registered_store_factories_serve_their_scheme(
        aiohttp_server: ServerFactory, make_settings: Callable[..., Settings], relay: tuple[CountingRelay, str],
        direct: Client, bucket: str) -> None:
    direct.put_object(Bucket=bucket, Key="ckpt/weights.bin", Body=b"weights")
    settings = make_settings(s3_route=("ckpt=gs://ckpt-bucket",), s3_client_keys=f"{ACCESS_KEY}:{SECRET_KEY}")
    with pytest.raises(RoutesError, match=r"--s3-route: bucket 'ckpt': no store for gs:// configured in this build"):
        build_app(settings, stores={})
    targets: list[str] = []

    def gcs_like(target: str, session: Callable[[], ClientSession]) -> ObjectStore:
        targets.append(target)
        endpoint = Endpoint(URL(relay[1]), "us-east-1", Static(Credentials("upstream-key", "upstream-secret")))
        return S3Store(S3Upstream(endpoint, session), bucket, "ckpt")

    server = await aiohttp_server(build_app(settings, stores={"gs": gcs_like}))
    client = make_client(str(server.make_url("/s3")))
    assert targets == ["gs://ckpt-bucket"]
    got = await asyncio.to_thread(client.get_object, Bucket="ckpt", Key="ckpt/weights.bin")
    assert await asyncio.to_thread(got["Body"].read) == b"weights"
    listed = await asyncio.to_thread(client.list_objects_v2, Bucket="ckpt")
    assert [o["Key"] for o in listed["Contents"]] == ["ckpt/weights.bin"]
    assert [b["Name"] for b in (await asyncio.to_thread(client.list_buckets))["Buckets"]] == ["ckpt"]
    for call in (lambda: client.list_objects_v2(Bucket="other"), lambda: client.get_object(Bucket="other", Key="k")):
        with pytest.raises(ClientError) as exc:
            await asyncio.to_thread(call)
        assert exc.value.response["Error"]["Code"] == "NoSuchBucket"
        assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404


async def test_prefetch_of_a_routed_bucket_fills_what_reads_then_hit(aliased: S3Proxy, bucket: str) -> None:
    job = await prefetch(aliased.proxy, url="s3://alias/tiny-llm", pin=True)
    tiny = {k: v for k, v in FOLDER.items() if k.startswith("tiny-llm/")}
    assert (job["state"], job["files_total"]) == ("succeeded", len(tiny))
    before = len(aliased.relay.requests)
    client = aliased.client()
    for key, body in tiny.items():
        got = await asyncio.to_thread(client.get_object, Bucket="alias", Key=key)
        assert await asyncio.to_thread(got["Body"].read) == body
        assert got["ResponseMetadata"]["HTTPHeaders"]["x-cache"] == "hit"
    assert len(aliased.relay.requests) == before
