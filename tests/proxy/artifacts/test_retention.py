"""Artifacts live by the cache's rules: an artifact whose sources are pinned is pinned; the others
are evicted by the same quota (blob and record); ``gc`` keeps them; ``modelmanager ls`` lists them."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import blake3
import pytest
from yarl import URL

from proxy.__main__ import build_app
from proxy.artifacts.key import Manifest
from proxy.cli import commands
from proxy.digest import Digest
from proxy.storage.blobstore import FsBlobStore
from proxy.storage.gc import collect_garbage
from proxy.storage.index import Index
from proxy.storage.layout import Layout
from tests.conftest import ADMIN, Proxy
from tests.control import call
from tests.fakes.fake_http import FakeUpstream

ProxyFactory = Callable[..., Awaitable[Proxy]]
MiB = 1 << 20


async def fetch(proxy: Proxy, url: URL) -> Digest:
    async with proxy.session.get(proxy.fetch_url(url)) as r:
        assert r.status == 200
        return Digest.of(await r.read())


async def upload(proxy: Proxy, source: Digest, body: bytes) -> str:
    data: dict[str, Any] = {"sources": [str(source)], "target": {"gpu": "x"},
                            "recipe": {"name": "test-gzip", "options": {"level": 1}}}
    key = Manifest.model_validate(data).key.hex
    headers = {**ADMIN, "X-MM-Artifact-Manifest": json.dumps(data),
               "X-MM-Artifact-Digest": f"blake3:{blake3.blake3(body).hexdigest()}"}
    async with proxy.session.put(proxy.server.make_url(f"/v1/artifacts/{key}"), data=body, headers=headers) as r:
        assert r.status == 201, await r.text()
    return key


async def status(proxy: Proxy, key: str) -> int:
    async with proxy.session.get(proxy.server.make_url(f"/v1/artifacts/{key}"), headers=ADMIN) as r:
        await r.read()
        return r.status


async def test_pins_cover_artifacts_of_pinned_sources_and_the_quota_evicts_the_rest(
        start_proxy: ProxyFactory, upstream: tuple[FakeUpstream, URL], cache_dir: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    fake, base = upstream
    proxy = await start_proxy(disk_quota_bytes=MiB)
    kept_model, other_model = os.urandom(MiB), os.urandom(MiB)
    fake.add("/kept.onnx", kept_model)
    fake.add("/other.onnx", other_model)
    kept_source = await fetch(proxy, base / "kept.onnx")
    other_source = await fetch(proxy, base / "other.onnx")
    await call(proxy, "POST", "/v1/pins", {"url": str(base / "kept.onnx")}, expect=201)
    kept = await upload(proxy, kept_source, os.urandom(MiB))
    dropped = await upload(proxy, other_source, os.urandom(MiB))

    commands.main(["ls", "--cache-dir", str(cache_dir), "--json"], build_app)
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    artifacts = {row["key"]: row["artifact"] for row in rows if "artifact" in row}
    assert artifacts[f"artifact:{kept}"]["sources"] == [str(kept_source)]
    assert artifacts[f"artifact:{kept}"]["target"] == {"gpu": "x"}
    commands.main(["ls", "--cache-dir", str(cache_dir)], build_app)
    line = next(row for row in capsys.readouterr().out.splitlines() if row.startswith(f"artifact:{kept}"))
    assert line.endswith('test-gzip of 1 source(s) for {"gpu":"x"}')

    report = await call(proxy, "POST", "/v1/evict", expect=200)
    assert report["pinned"] == 2, "the pinned model and the artifact built from it"
    assert report["evicted"] == 2, "the unpinned model and its artifact"
    assert await status(proxy, kept) == 200
    assert await status(proxy, dropped) == 404
    listed = await call(proxy, "GET", "/v1/artifacts", expect=200)
    assert [a["key"] for a in listed] == [kept], "the evicted artifact's record went with its blob"

    store = FsBlobStore(Layout(cache_dir), "gc-node")
    report_gc = collect_garbage(store, Index(store.layout, "gc-node"), time.time(), 0.0, dry_run=False)
    assert report_gc.removed == 0, "gc keeps artifacts: their records reference them"
    assert await status(proxy, kept) == 200
