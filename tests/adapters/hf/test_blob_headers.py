"""The Hub's HEAD names the blob (digest, path on the cache volume) once the cache holds the file."""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable
from pathlib import Path

import blake3

from tests.conftest import Proxy
from tests.fakes.fake_hub import FakeHub

DIGEST, PATH = "X-MM-Blob-Digest", "X-MM-Blob-Path"


async def test_hub_head_names_the_blob_once_cached(start_proxy: Callable[..., Awaitable[Proxy]], cache_dir: Path,
                                                   hub: FakeHub) -> None:
    proxy = await start_proxy(hf_endpoint=str(hub.hub_url))
    data = os.urandom(50_000)
    hub.create("org/m").commit({"w.safetensors": data})
    url = proxy.server.make_url("/org/m/resolve/main/w.safetensors")
    async with proxy.session.head(url) as before:
        assert before.status == 200
        assert DIGEST not in before.headers
    async with proxy.session.get(url) as get:
        assert await get.read() == data
    async with proxy.session.head(url) as after:
        assert after.headers[DIGEST] == f"blake3:{blake3.blake3(data).hexdigest()}"
        assert (cache_dir / after.headers[PATH]).read_bytes() == data
