"""The internal endpoints (``/_mm/v1/blobs/{digest}``, ``/_mm/v1/fills/{key_id}``) do not exist
outside cluster mode (the blob endpoint: with peer hops), so a client that learnt a digest cannot
read a cached blob by it (the cluster side, with its secret, is tested in
tests/cluster/test_memory_tier.py and tests/cluster/test_incoherent_volume.py)."""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable

import pytest
from yarl import URL

from proxy.cluster.port import key_id
from proxy.digest import Digest
from tests.conftest import Proxy
from tests.fakes.fake_http import FakeUpstream


@pytest.mark.parametrize("peer_mode", ["off", "proxy"])
async def test_embedded_mode_has_no_internal_endpoint(start_proxy: Callable[..., Awaitable[Proxy]],
                                                       upstream: tuple[FakeUpstream, URL], peer_mode: str) -> None:
    fake, base = upstream
    body = os.urandom(100_000)
    fake.add("/private.bin", body)
    proxy = await start_proxy(memory_cache_bytes=1 << 20, peer_mode=peer_mode)
    for _ in range(2):  # miss, then a hit that takes the blob into the memory tier
        async with proxy.session.get(proxy.fetch_url(base / "private.bin")) as r:
            assert await r.read() == body
    internal = proxy.server.make_url(f"/_mm/v1/blobs/{Digest.of(body).hex}")
    async with proxy.session.get(internal) as r:
        assert r.status == 404
        assert body not in await r.read()
    fills = proxy.server.make_url(f"/_mm/v1/fills/{key_id('http:' + str(base / 'private.bin'))}")
    async with proxy.session.get(fills.with_query(token="1", offset="0")) as r:
        assert r.status == 404, "no fill endpoint outside cluster mode"
        assert body not in await r.read()
