"""A large LFS file from the Hub is filled in segments (bounded Range requests to the CDN),
verified against its sha256, and served byte-exact."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Awaitable, Callable

from tests.conftest import Proxy
from tests.fakes.fake_hub import FakeHub

MiB = 1 << 20


async def test_a_large_lfs_file_is_filled_in_segments(start_proxy: Callable[..., Awaitable[Proxy]],
                                                      hub: FakeHub) -> None:
    proxy = await start_proxy(hf_endpoint=str(hub.hub_url), fill_connections=4)
    data = os.urandom(40 * MiB + 123)
    hub.create("org/big").commit({"model.safetensors": data})
    async with proxy.session.get(proxy.server.make_url("/org/big/resolve/main/model.safetensors")) as r:
        assert r.status == 200
        assert hashlib.sha256(await r.read()).digest() == hashlib.sha256(data).digest()
    sha = hashlib.sha256(data).hexdigest()
    ranges = [rng for method, digest, rng in hub.cdn_requests if method == "GET" and digest == sha]
    assert ranges[0] is None  # the download, whose body serves the first segment
    assert len(ranges) >= 3
    assert all(rng is not None and rng.partition("-")[2] for rng in ranges[1:])  # bounded ranges
