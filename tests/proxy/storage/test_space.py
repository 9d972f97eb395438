"""A volume without room: a miss is refused before any header (never a short 200), nothing is
written, hits are still served, and /readyz says degraded (while staying ready)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Awaitable, Callable
from pathlib import Path

from yarl import URL

from tests.conftest import Proxy
from tests.fakes.fake_http import FakeUpstream

MiB = 1 << 20


def files_under(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file()]


async def test_no_room_is_507_before_headers_and_hits_still_serve(
        start_proxy: Callable[..., Awaitable[Proxy]], upstream: tuple[FakeUpstream, URL], cache_dir: Path) -> None:
    fake, base = upstream
    cached, missing = os.urandom(MiB), os.urandom(8 * MiB)
    fake.add("/cached.bin", cached)
    fake.add("/missing.bin", missing)
    roomy = await start_proxy()
    async with roomy.session.get(roomy.fetch_url(base / "cached.bin")) as r:
        assert await r.read() == cached

    full = await start_proxy(disk_reserve_bytes=shutil.disk_usage(cache_dir).free + (100 << 30))
    blobs_before = files_under(cache_dir / "blobs")
    async with full.session.get(full.fetch_url(base / "missing.bin")) as r:
        assert r.status == 507
        assert (await r.json())["error"] == "InsufficientStorage"
    assert files_under(cache_dir / "blobs") == blobs_before
    assert files_under(cache_dir / "tmp") == [], "no temp file is left behind"

    async with full.session.get(full.fetch_url(base / "cached.bin")) as r:
        assert r.status == 200
        assert r.headers["X-Cache"] == "hit"
        assert await r.read() == cached

    async with full.session.get(full.server.make_url("/readyz")) as r:
        body = await r.json()
        assert r.status == 200
        assert (body["degraded"], body["checks"]["disk_space"]) == (True, False)
    async with roomy.session.get(roomy.server.make_url("/readyz")) as r:
        assert (await r.json())["degraded"] is False
