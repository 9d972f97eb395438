"""A zero-byte file is filled, cached and served like any other (a fresh fill plans no segments:
it must go one stream, not probe a second segment that does not exist)."""

from __future__ import annotations

from tests.conftest import Proxy
from tests.proxy.fill.conftest import Upstream


async def test_an_empty_file_is_served_and_then_hit(proxy: Proxy, upstream: Upstream) -> None:
    fake, base = upstream.fake, upstream.base
    fake.add("/empty.bin", b"")
    seen = []
    for _ in range(2):
        async with proxy.session.get(proxy.fetch_url(base / "empty.bin")) as response:
            assert response.status == 200
            assert await response.read() == b""
            seen.append(response.headers["X-Cache"])
    assert seen[0] == "miss"
    assert seen[1] in ("hit", "coalesced")  # the fill may still be committing its (empty) blob
    assert fake.count("/empty.bin") == 1
