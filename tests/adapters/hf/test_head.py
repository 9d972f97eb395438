"""HEAD of a Hub file goes through the core's read path (conditionals, ``X-Cache``) and never
starts a fill: on a miss it is answered from what the Hub said about the file."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from proxy import appkeys
from tests.conftest import Proxy
from tests.fakes.fake_hub import FakeHub

ProxyFactory = Callable[..., Awaitable[Proxy]]


async def test_head_miss_then_hit_with_conditionals(hf_proxy: ProxyFactory, hub: FakeHub) -> None:
    proxy = await hf_proxy()
    repo = hub.create("org/head")
    commit = repo.commit({"w.bin": b"0123456789" * 100})
    url = proxy.server.make_url("/org/head/resolve/main/w.bin")

    async with proxy.session.head(url) as r:
        assert (r.status, r.headers["X-Cache"], r.content_length) == (200, "miss", 1000)
        assert r.headers["X-Repo-Commit"] == commit
        etag = r.headers["ETag"]
    assert hub.count("GET", "/resolve/") == 0
    assert (len(proxy.app[appkeys.FILLS]), list(proxy.app[appkeys.CACHE].index.entries())) == (0, [])

    async with proxy.session.get(url) as r:
        assert (r.status, r.headers["X-Cache"], r.headers["ETag"]) == (200, "miss", etag)
        await r.read()
    async with proxy.session.head(url) as r:
        assert (r.status, r.headers["X-Cache"], r.headers["ETag"], r.content_length) == (200, "hit", etag, 1000)
    async with proxy.session.head(url, headers={"If-None-Match": etag}) as r:
        assert (r.status, r.headers["X-Cache"], r.headers["ETag"]) == (304, "hit", etag)
    async with proxy.session.head(url, headers={"If-Match": '"another"'}) as r:
        assert r.status == 412
    assert hub.count("GET", "/resolve/") == 1
