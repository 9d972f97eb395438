"""A blob the proxy committed (a stock client's GET through the proxy, from the Hub emulator)."""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from proxy.digest import Digest
from tests.conftest import Proxy
from tests.fakes.fake_hub import FakeHub


@dataclass(frozen=True)
class Committed:
    proxy: Proxy
    cache: Path
    digest: str
    data: bytes


async def commit(proxy: Proxy, hub: FakeHub, cache: Path, data: bytes, repo: str = "org/blob",
                 name: str = "model.bin") -> Committed:
    hub.create(repo).commit({name: data})
    async with proxy.session.get(proxy.server.make_url(f"/{repo}/resolve/main/{name}")) as response:
        assert response.status == 200
        assert await response.read() == data
    digest = Digest.of(data).hex
    assert (cache / "blobs" / digest[:2] / digest).is_file()
    return Committed(proxy, cache, digest, data)


@pytest.fixture
async def committed(hf_proxy: Callable[..., Awaitable[Proxy]], hub: FakeHub, cache_dir: Path) -> Committed:
    return await commit(await hf_proxy(), hub, cache_dir, os.urandom(40 << 20))
