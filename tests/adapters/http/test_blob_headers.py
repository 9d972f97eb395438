"""A hit tells clients its blob's digest and path on the cache volume (path hand-off); a miss,
whose headers go out before the blob is verified, does not."""

from __future__ import annotations

import os
from pathlib import Path

import blake3
from yarl import URL

from tests.conftest import Proxy
from tests.fakes.fake_http import FakeUpstream

DIGEST, PATH = "X-MM-Blob-Digest", "X-MM-Blob-Path"


async def test_http_hit_names_its_blob_on_the_volume(proxy: Proxy, upstream: tuple[FakeUpstream, URL],
                                                     cache_dir: Path) -> None:
    fake, base = upstream
    body = os.urandom(200_000)
    fake.add("/w.bin", body)
    async with proxy.session.get(proxy.fetch_url(base / "w.bin")) as miss:
        assert await miss.read() == body
        assert DIGEST not in miss.headers  # headers went out before the blob was verified
    async with proxy.session.head(proxy.fetch_url(base / "w.bin")) as hit:
        digest, path = hit.headers[DIGEST], hit.headers[PATH]
    hexdigest = blake3.blake3(body).hexdigest()
    assert digest == f"blake3:{hexdigest}"
    assert path == f"blobs/{hexdigest[:2]}/{hexdigest}"
    assert (cache_dir / path).read_bytes() == body
