"""A failed build stays failed for ``--build-failure-ttl`` (every request meanwhile gets the failure
and starts nothing); the first request after it starts a fresh build."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from yarl import URL

from tests.conftest import ADMIN_TOKEN, Proxy
from tests.fakes.fake_http import FakeUpstream
from tests.proxy.artifacts.test_builds import MODEL, TARGET, request_build, wait_artifact
from tests.proxy.artifacts.workers import RECIPE_MODULE, WorkerFactory

ProxyFactory = Callable[..., Awaitable[Proxy]]
TTL = 2.0


async def test_a_failure_is_kept_for_its_ttl_then_a_request_builds_again(
        start_proxy: ProxyFactory, start_worker: WorkerFactory, upstream: tuple[FakeUpstream, URL],
        tmp_path: Path) -> None:
    fake, base = upstream
    fake.add("/model.onnx", MODEL)
    proxy = await start_proxy(recipe_modules=(RECIPE_MODULE,), build_failure_ttl=TTL)
    await start_worker(str(proxy.server.make_url("")), ADMIN_TOKEN, "w1")
    marker = tmp_path / "marker"
    sources, options = [str(base / "model.onnx")], {"fail": True, "marker": str(marker)}

    build = await request_build(proxy, sources, options, target=TARGET)
    status, _, body = await wait_artifact(proxy, build["key"])
    failed_at = time.monotonic()
    assert status == 502
    assert body is not None
    assert "the compiler exploded at line 42" in body["log_tail"]

    again = await request_build(proxy, sources, options, target=TARGET)
    assert again["state"] == "failed", "within the TTL the failure is the answer"
    assert "compilation failed" in again["error"]
    assert again["attempts"] == 1
    assert marker.read_text().split().count("start") == 1

    while (again := await request_build(proxy, sources, options, target=TARGET))["state"] == "failed":
        assert time.monotonic() - failed_at < TTL + 30, "the failure outlived its TTL"
        await asyncio.sleep(0.1)
    assert time.monotonic() - failed_at >= TTL - 0.5, "not before the TTL"
    assert again["state"] in ("pending", "building")
    status, _, body = await wait_artifact(proxy, build["key"])
    assert status == 502, "built again (and failed again)"
    assert marker.read_text().split().count("start") == 2
    async with proxy.session.get(proxy.server.make_url(f"/v1/builds/{build['key']}"),
                                 headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}) as r:
        assert (await r.json())["attempts"] == 2
