"""Real S3 clients (boto3, the aws CLI) against a proxy's S3 API, for buckets routed to any store,
and the reference answer a listing must equal (computed from the objects a test uploaded)."""

from __future__ import annotations

import asyncio
import os
import sys
import threading
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config

from tests.fakes.cloud_relay import CloudRelay
from tests.fakes.s3_servers import ACCESS_KEY, SECRET_KEY

AWS = str(Path(sys.executable).parent / "aws")
MiB = 1 << 20
FOLDER = {
    "tiny-llm/config.json": b'{"model_type": "llama"}',
    "tiny-llm/model.safetensors": os.urandom(3 * MiB + 7),
    "tiny-llm/sub dir/weird+name=1.txt": b"weird",
    "tiny-llm/tokenizer \u00fc.json": b"{}",
    **{f"many/f{i:03d}.txt": f"file {i}".encode() for i in range(23)},
    **{f"many/d{i}/x.txt": b"x" for i in range(4)},
}
"""A model folder and a wide one: names with spaces, ``+``, ``=`` and non-ASCII; enough for pages."""

LISTINGS: list[dict[str, Any]] = [
    {"Prefix": "tiny-llm/"},
    {"Prefix": "tiny-llm/", "Delimiter": "/"},
    {"Prefix": "many/", "Delimiter": "/", "PaginationConfig": {"PageSize": 4}},
    {"Prefix": "many/", "PaginationConfig": {"PageSize": 7}},
    {"Prefix": "", "Delimiter": "/"},
    {"Prefix": "nothing/"},
]


def client(endpoint: str) -> Any:
    return boto3.session.Session().client(
        "s3", endpoint_url=endpoint, aws_access_key_id=ACCESS_KEY, aws_secret_access_key=SECRET_KEY,
        region_name="us-east-1", config=Config(retries={"max_attempts": 1, "mode": "standard"}))


def expected(keys: Iterable[str], prefix: str, delimiter: str | None) -> tuple[list[str], list[str]]:
    """What ListObjectsV2 answers: keys under ``prefix``, rolled up at ``delimiter`` after it."""
    objects, prefixes = [], set()
    for key in sorted(keys):
        if not key.startswith(prefix):
            continue
        rest = key[len(prefix):]
        if delimiter and delimiter in rest:
            prefixes.add(prefix + rest[:rest.index(delimiter) + len(delimiter)])
        else:
            objects.append(key)
    return objects, sorted(prefixes)


async def listed(s3: Any, bucket: str, params: dict[str, Any]) -> tuple[list[str], list[str], int]:
    """Keys and common prefixes of every page of a paginated ListObjectsV2, and the page count."""
    def run() -> list[dict[str, Any]]:
        return list(s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, **params))

    pages = await asyncio.to_thread(run)
    keys = [o["Key"] for p in pages for o in p.get("Contents", [])]
    prefixes = [c["Prefix"] for p in pages for c in p.get("CommonPrefixes", [])]
    return keys, prefixes, len(pages)


async def aws(endpoint: str, home: Path, *args: str) -> str:
    env = {"PATH": os.environ.get("PATH", ""), "HOME": str(home), "AWS_ACCESS_KEY_ID": ACCESS_KEY,
           "AWS_SECRET_ACCESS_KEY": SECRET_KEY, "AWS_DEFAULT_REGION": "us-east-1", "AWS_ENDPOINT_URL": endpoint,
           "AWS_EC2_METADATA_DISABLED": "true", "AWS_CONFIG_FILE": "/dev/null",
           "AWS_SHARED_CREDENTIALS_FILE": "/dev/null"}
    process = await asyncio.create_subprocess_exec(AWS, *args, env=env, stdout=asyncio.subprocess.PIPE,
                                                   stderr=asyncio.subprocess.PIPE)
    out, err = await process.communicate()
    assert process.returncode == 0, (out + err).decode()
    return out.decode()


async def herd(endpoint: str, relay: CloudRelay, body: bytes, n: int = 16) -> None:
    """``n`` boto3 clients GET ``models/herd.bin`` at once while the relay holds the upstream body
    after its first chunk: every client has its first bytes before the upstream sends the rest,
    and every client gets ``body``."""
    loop = asyncio.get_running_loop()
    first_bytes = [asyncio.Event() for _ in range(n)]
    proceed = threading.Event()
    clients = [client(endpoint) for _ in range(n)]

    def reader(i: int) -> bytes:
        got = clients[i].get_object(Bucket="models", Key="herd.bin")["Body"]
        head: bytes = got.read(1024)
        loop.call_soon_threadsafe(first_bytes[i].set)
        proceed.wait(60)
        rest: bytes = got.read()
        return head + rest

    relay.gate = asyncio.Event()
    # the clients' own threads: the loop's default executor also runs the proxy's file work
    with ThreadPoolExecutor(n) as pool:
        tasks = [loop.run_in_executor(pool, reader, i) for i in range(n)]
        try:
            await asyncio.wait_for(asyncio.gather(*(e.wait() for e in first_bytes)), 60)
        finally:
            relay.gate.set()
            proceed.set()
        assert await asyncio.gather(*tasks) == [body] * n
