"""--offline: cached files are served without a single upstream connection; the rest fail the way
huggingface_hub treats an unreachable Hub (it falls back to its local cache)."""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from huggingface_hub import errors as hf_errors

from tests.adapters.hf.test_clients import download
from tests.conftest import Proxy
from tests.control import call, prefetch
from tests.fakes.fake_hub import FakeHub

ProxyFactory = Callable[..., Awaitable[Proxy]]


async def test_offline_serves_a_pinned_prefetch_after_restart(hf_proxy: ProxyFactory, hub: FakeHub,
                                                              tmp_path: Path) -> None:
    online = await hf_proxy()
    weights = os.urandom(5000)
    hub.create("org/model").commit({"config.json": b'{"c": 3}', "model.safetensors": weights})
    hub.create("org/other").commit({"config.json": b"{}"})
    job = await prefetch(online, url="hf://org/model", pin=True)
    assert job["state"] == "succeeded"

    offline = await hf_proxy(offline=True)  # a new process on the same cache volume
    upstream = len(hub.requests) + len(hub.cdn_requests)
    assert await download(offline, tmp_path / "a", "org/model", "model.safetensors") == weights
    assert await download(offline, tmp_path / "a", "org/model", "config.json") == b'{"c": 3}'
    with pytest.raises(hf_errors.LocalEntryNotFoundError):
        await download(offline, tmp_path / "b", "org/other", "config.json")
    async with offline.session.get(offline.server.make_url("/org/other/resolve/main/config.json")) as r:
        assert r.status == 502
    refused = await call(offline, "POST", "/v1/prefetch", {"url": "hf://org/other"}, expect=403)
    assert "offline" in refused["error"]
    assert len(hub.requests) + len(hub.cdn_requests) == upstream, "offline: no upstream request at all"
