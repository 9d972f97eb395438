"""The HF API answer memo under hostile input: unique large ``paths-info`` bodies are answered but
never remembered, and what is remembered is bounded by bytes (issue 12: 1 MB bodies grew RSS)."""

from __future__ import annotations

import os
from collections.abc import Callable

from aiohttp import ClientSession

from adapters.hf import HfFrontend
from adapters.hf.state import MAX_MEMO_BODY
from proxy.__main__ import frontends
from proxy.app import make_app
from proxy.config import Settings
from tests.conftest import ServerFactory
from tests.fakes.fake_hub import FakeHub


async def test_unique_large_bodies_are_not_remembered(
        aiohttp_server: ServerFactory, make_settings: Callable[..., Settings], hub: FakeHub) -> None:
    commit = hub.create("org/model").commit({"config.json": b"{}"})
    settings = make_settings(hf_endpoint=str(hub.hub_url))
    fronts = frontends(settings)
    hf = next(f for f in fronts if isinstance(f, HfFrontend))
    server = await aiohttp_server(make_app(settings, fronts))
    url = server.make_url(f"/api/models/org/model/paths-info/{commit}")
    async with ClientSession() as session:
        for _ in range(20):
            form = {"paths": "config.json", "pad": os.urandom(MAX_MEMO_BODY).hex()}
            async with session.post(url, data=form) as r:
                assert r.status == 200
                assert [e["path"] for e in await r.json()] == ["config.json"]
        assert hf.state.api.size == 0, "large bodies are never keyed"
        for i in range(20):  # small unique bodies are remembered, within the byte budget
            async with session.post(url, data={"paths": "config.json", "n": str(i)}) as r:
                assert r.status == 200
    assert 0 < hf.state.api.size < 1 << 20
    assert len(hf.state.api) == 20
