"""Pins of a bucket routed to another store (GCS, Azure) through the S3 API: the pin records the
prefix in the store's own key space, so what it keeps is exactly what its reads filled.

Shared by the GCS and Azure suites: prefetch-and-pin ``s3://models/tiny-llm``, fill one unpinned
object, evict with a quota of one byte; the pinned entries survive (every later read a hit, no
upstream download), ``modelmanager ls`` shows them under the store's keys; after unpinning, the next
pass evicts them too.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from proxy.__main__ import build_app
from proxy.cli import commands
from tests.conftest import Proxy
from tests.control import call, prefetch
from tests.fakes.cloud_relay import CloudRelay
from tests.s3_clients import FOLDER, client

PINNED = {k: v for k, v in FOLDER.items() if k.startswith("tiny-llm/")}
URL = "s3://models/tiny-llm"


def listed_keys(cache_dir: Path, capsys: pytest.CaptureFixture[str]) -> set[str]:
    """The keys ``modelmanager ls --json`` shows for this cache."""
    capsys.readouterr()
    assert commands.main(["ls", "--json", "--cache-dir", str(cache_dir)], build_app) == 0
    return {json.loads(line)["key"] for line in capsys.readouterr().out.splitlines()}


async def read(proxy: Proxy, key: str) -> tuple[bytes, str]:
    s3 = client(str(proxy.server.make_url("/s3")))
    got = await asyncio.to_thread(s3.get_object, Bucket="models", Key=key)
    body = await asyncio.to_thread(got["Body"].read)
    return body, got["ResponseMetadata"]["HTTPHeaders"]["x-cache"]


async def pinned_prefix_survives_eviction(proxy: Proxy, relay: CloudRelay, store_prefix: str, cache_dir: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    """``store_prefix``: the store's index key for ``tiny-llm/`` (``gs:<bucket>/tiny-llm/``, ...)."""
    job = await prefetch(proxy, url=URL, pin=True)
    assert (job["state"], job["files_total"]) == ("succeeded", len(PINNED))
    pins = await call(proxy, "GET", "/v1/pins", expect=200)
    assert [(p["url"], p["prefixes"]) for p in pins] == [(URL, [store_prefix])]
    pinned_keys = {store_prefix + k.removeprefix("tiny-llm/") for k in PINNED}
    assert listed_keys(cache_dir, capsys) == pinned_keys

    assert await read(proxy, "many/f000.txt") == (b"file 0", "miss")
    report = await call(proxy, "POST", "/v1/evict", expect=200)
    assert (report["evicted"], report["pinned"]) == (1, len(PINNED))
    downloads = len(relay.bodies())
    for key, body in PINNED.items():
        assert await read(proxy, key) == (body, "hit")
    assert len(relay.bodies()) == downloads, "no pinned entry was evicted"
    assert listed_keys(cache_dir, capsys) == pinned_keys

    removed = await call(proxy, "DELETE", "/v1/pins", expect=200, url=URL)
    assert [p["url"] for p in removed] == [URL]
    report = await call(proxy, "POST", "/v1/evict", expect=200)
    assert (report["evicted"], report["pinned"]) == (len(PINNED), 0)
    assert listed_keys(cache_dir, capsys) == set()
    assert await read(proxy, "tiny-llm/config.json") == (PINNED["tiny-llm/config.json"], "miss")
    assert len(relay.bodies()) == downloads + 1
