"""The dashboard's routes and ``/v1/status``, through real servers; ``/`` still 404s for clients."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable
from pathlib import Path

import huggingface_hub as hfh
import pytest
from aiohttp.test_utils import TestServer
from yarl import URL

from adapters.ui import UiFrontend
from proxy import appkeys
from proxy.__main__ import frontends
from proxy.app import make_app
from proxy.config import Settings
from tests.conftest import ADMIN, Proxy, ServerFactory
from tests.fakes.fake_http import FakeUpstream
from tests.fakes.fake_hub import FakeHub

ProxyFactory = Callable[..., Awaitable[Proxy]]
BROWSER = {"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
           "User-Agent": "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0"}
HF_CLIENT = {"Accept": "*/*", "Accept-Encoding": "identity",
             "User-Agent": "huggingface_hub/1.1.0; python/3.11.9; torch/2.13.0; transformers/4.57.0"}
CLIENT_REQUESTS = [
    ("GET", HF_CLIENT),
    ("HEAD", HF_CLIENT),
    ("GET", {}),
    ("GET", {"Accept": "*/*", "User-Agent": "curl/8.5.0"}),
    ("GET", {**BROWSER, "Authorization": "Bearer hf_xyz"}),
    ("GET", {"Accept": "application/json"}),
    ("POST", BROWSER),
    ("PUT", HF_CLIENT),
]


async def answer(server: TestServer, method: str, path: str, headers: dict[str, str]) -> tuple[int, str, bytes]:
    client_headers = {"Accept": "", "User-Agent": "", **headers}  # aiohttp would add its own defaults
    async with server.app[appkeys.UPSTREAM_SESSION].request(method, server.make_url(path), headers={
            k: v for k, v in client_headers.items() if v}, skip_auto_headers=("Accept", "User-Agent")) as r:
        return r.status, r.headers.get("Content-Type", ""), await r.read()


@pytest.mark.parametrize(("method", "headers"), CLIENT_REQUESTS)
async def test_root_answers_clients_exactly_as_without_the_dashboard(
        aiohttp_server: ServerFactory, make_settings: Callable[..., Settings], method: str,
        headers: dict[str, str]) -> None:
    settings = make_settings()
    with_ui = await aiohttp_server(make_app(settings, frontends(settings)))
    without_ui = await aiohttp_server(make_app(
        settings, [f for f in frontends(settings) if not isinstance(f, UiFrontend)]))
    assert any(isinstance(f, UiFrontend) for f in frontends(settings))
    got = await answer(with_ui, method, "/", headers)
    before = await answer(without_ui, method, "/", headers)
    assert got == before
    assert got[0] == 404
    assert b"<html" not in got[2]


async def test_browser_gets_the_dashboard_at_root_and_ui(proxy: Proxy) -> None:
    for path in ("/", "/ui"):
        async with proxy.session.get(proxy.server.make_url(path), headers=BROWSER) as r:
            assert r.status == 200
            assert r.content_type == "text/html"
            page = await r.text()
        assert "<title>Model Manager</title>" in page
        assert '<script src="/ui/dashboard.js"></script>' in page
    async with proxy.session.get(proxy.server.make_url("/ui/dashboard.js")) as r:
        assert r.status == 200
        assert r.content_type == "text/javascript"
        assert 'fetch("/v1/status"' in await r.text()


async def test_hf_clients_still_download_with_the_dashboard_mounted(
        start_proxy: ProxyFactory, hub: FakeHub, tmp_path: Path) -> None:
    proxy = await start_proxy(hf_endpoint=str(hub.hub_url))
    hub.create("org/model").commit({"config.json": b'{"a": 1}'})
    path = await asyncio.get_running_loop().run_in_executor(None, lambda: hfh.hf_hub_download(
        "org/model", "config.json", endpoint=str(proxy.server.make_url("")).rstrip("/"),
        cache_dir=tmp_path / "hf", token=False))
    assert Path(path).read_bytes() == b'{"a": 1}'
    async with proxy.session.get(proxy.server.make_url("/org/model/resolve/main/config.json"),
                                 headers=BROWSER) as r:
        assert r.status == 200, "a browser asking for a file gets the file, not the dashboard"
        assert await r.read() == b'{"a": 1}'


async def test_status_shows_a_fill_in_flight_then_traffic_and_cache_size(
        proxy: Proxy, upstream: tuple[FakeUpstream, URL]) -> None:
    fake, base = upstream
    body = os.urandom(1_000_000)
    gate = asyncio.Event()
    fake.add("/big.bin", body, gate=gate, chunk=100_000)
    status_url = proxy.server.make_url("/v1/status")

    async with proxy.session.get(proxy.fetch_url(base / "big.bin")) as download:
        assert download.status == 200
        first = await download.content.readexactly(1)
        async with proxy.session.get(status_url, headers=ADMIN) as r:
            assert r.status == 200
            assert r.headers["Cache-Control"] == "no-store"
            during = await r.json()
        gate.set()
        rest = await download.read()
    assert first + rest == body

    assert during["schema"] == 1
    assert during["node_id"] == "test-node"
    assert during["pinned"] == []
    assert during["cache"]["quota_bytes"] is None
    [node] = during["nodes"]
    assert node["self"] is True
    assert node["node_id"] == "test-node"
    assert node["mode"] == "embedded"
    assert node["ready"] is True
    [fill] = node["fills"]
    assert fill["key"].endswith("/big.bin")
    assert fill["state"] == "streaming"
    assert fill["size"] == len(body)
    assert 100_000 <= fill["written"] < len(body)

    async with proxy.session.get(proxy.fetch_url(base / "big.bin")) as again:
        assert await again.read() == body
    status = proxy.app[appkeys.STATUS]
    status.usage.max_age = 0
    after = await status.snapshot()
    [node] = after["nodes"]
    assert node["fills"] == []
    assert node["traffic"]["requests"] == {"hit": 1, "miss": 1}
    assert node["traffic"]["hit_ratio"] == 0.5
    assert node["traffic"]["upstream_bytes"] == len(body)
    assert node["traffic"]["served_bytes"] == 2 * len(body)
    assert node["traffic"]["saved_bytes"] == len(body)
    assert after["cache"]["used_bytes"] == len(body)
    assert after["cache"]["blobs"] == 1


async def test_status_extension_points_are_in_the_document(proxy: Proxy) -> None:
    status = proxy.app[appkeys.STATUS]
    status.quota_bytes = lambda: 10 << 30
    status.pinned = lambda: [{"source": "hf", "repo": "org/model", "revision": "main"}]

    async def peers() -> list[dict[str, object]]:
        return [{"node_id": "peer-1", "self": False, "fills": []}]

    status.peers = peers
    async with proxy.session.get(proxy.server.make_url("/v1/status"), headers=ADMIN) as r:
        doc = await r.json()
    assert doc["cache"]["quota_bytes"] == 10 << 30
    assert doc["pinned"] == [{"source": "hf", "repo": "org/model", "revision": "main"}]
    assert [n["node_id"] for n in doc["nodes"]] == ["test-node", "peer-1"]
