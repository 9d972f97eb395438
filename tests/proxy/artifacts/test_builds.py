"""Builds through a real ``build-worker`` process (embedded mode): a requested build is built once,
served to the waiters byte-exact; a failing build is not stored and every waiter gets the error with
the builder's log tail; a worker killed mid-build (SIGKILL) is replaced by another one."""

from __future__ import annotations

import asyncio
import gzip
import io
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from yarl import URL

from tests.conftest import ADMIN, ADMIN_TOKEN, Proxy
from tests.control import until
from tests.fakes.fake_http import FakeUpstream
from tests.proxy.artifacts.gzip_recipe import RECIPE
from tests.proxy.artifacts.workers import RECIPE_MODULE, WorkerFactory

ProxyFactory = Callable[..., Awaitable[Proxy]]
MODEL = b"weights " * 20_000
TARGET = RECIPE.target()
"""What the worker (on this machine) builds for: named when a request comes before any worker."""


def gzipped(data: bytes, level: int = 6) -> bytes:
    out = io.BytesIO()
    with gzip.GzipFile(fileobj=out, mode="wb", compresslevel=level, mtime=0) as z:
        z.write(data)
    return out.getvalue()


async def request_build(proxy: Proxy, sources: list[str], options: dict[str, Any], **more: Any) -> dict[str, Any]:
    async with proxy.session.post(proxy.server.make_url("/v1/builds"), headers=ADMIN,
                                  json={"sources": sources, "recipe": "test-gzip", "options": options, **more}) as r:
        body = await r.json()
        assert r.status in (200, 202), body
        return body  # type: ignore[no-any-return]


async def wait_artifact(proxy: Proxy, key: str, seconds: float = 60) -> tuple[int, bytes, dict[str, Any] | None]:
    async with proxy.session.get(proxy.server.make_url(f"/v1/artifacts/{key}"), headers=ADMIN,
                                 params={"wait": str(seconds)}) as r:
        body = await r.read()
        return r.status, body, (await r.json() if r.content_type == "application/json" else None)


async def test_a_requested_build_is_built_once_and_served(start_proxy: ProxyFactory, start_worker: WorkerFactory,
                                                         upstream: tuple[FakeUpstream, URL], tmp_path: Path) -> None:
    fake, base = upstream
    fake.add("/model.onnx", MODEL)
    proxy = await start_proxy(recipe_modules=(RECIPE_MODULE,))
    marker = tmp_path / "marker"
    url = str(base / "model.onnx")
    await start_worker(str(proxy.server.make_url("")), ADMIN_TOKEN, "w1")
    build = await request_build(proxy, [url], {"marker": str(marker), "level": 9})
    assert build["state"] in ("pending", "building")
    assert build["manifest"]["recipe"] == {"name": "test-gzip", "options": {"level": 9, "marker": str(marker)}}
    waiters = await asyncio.gather(*(wait_artifact(proxy, build["key"]) for _ in range(4)))
    assert [(status, body == gzipped(MODEL, 9)) for status, body, _ in waiters] == [(200, True)] * 4
    assert marker.read_text().count("start") == 1, "one build for every requester"
    again = await request_build(proxy, [url], {"marker": str(marker), "level": 9})
    assert again["state"] == "ready"
    assert again["key"] == build["key"]
    assert fake.count("/model.onnx") == 1, "the source came through the cache once"
    async with proxy.session.get(proxy.server.make_url("/v1/status"), headers=ADMIN) as r:
        status = await r.json()
    assert status["artifacts"]["count"] == 1
    assert status["artifacts"]["stored"][0]["key"] == build["key"]


async def test_target_omitted_uses_the_workers_target(start_proxy: ProxyFactory, start_worker: WorkerFactory,
                                                      upstream: tuple[FakeUpstream, URL]) -> None:
    fake, base = upstream
    fake.add("/m.bin", b"abc" * 1000)
    proxy = await start_proxy(recipe_modules=(RECIPE_MODULE,))
    async with proxy.session.post(proxy.server.make_url("/v1/builds"), headers=ADMIN,
                                  json={"sources": [str(base / "m.bin")], "recipe": "test-gzip"}) as r:
        assert r.status == 400, "no worker seen: the target must be named"
        assert "target" in (await r.json())["error"]
    await start_worker(str(proxy.server.make_url("")), ADMIN_TOKEN, "w1")
    build = await request_build(proxy, [str(base / "m.bin")], {})
    assert build["manifest"]["target"]["machine"], "the target the worker offers"
    status, body, _ = await wait_artifact(proxy, build["key"])
    assert status == 200
    assert body == gzipped(b"abc" * 1000)


async def test_a_failing_build_is_not_stored_and_every_waiter_gets_the_log(
        start_proxy: ProxyFactory, start_worker: WorkerFactory, upstream: tuple[FakeUpstream, URL],
        tmp_path: Path, cache_dir: Path) -> None:
    fake, base = upstream
    fake.add("/model.onnx", MODEL)
    proxy = await start_proxy(recipe_modules=(RECIPE_MODULE,))
    gate = tmp_path / "gate"
    build = await request_build(proxy, [str(base / "model.onnx")], {"fail": True, "gate": str(gate)}, target=TARGET)
    worker = await start_worker(str(proxy.server.make_url("")), ADMIN_TOKEN, "w1")
    waiters = [asyncio.create_task(wait_artifact(proxy, build["key"])) for _ in range(5)]
    await worker.output.wait_for("build started", worker.proc)
    gate.touch()
    for status, _, body in await asyncio.gather(*waiters):
        assert status == 502
        assert body is not None
        assert body["state"] == "failed"
        assert "compilation failed" in body["error"]
        assert "the compiler exploded at line 42" in body["log_tail"]
    status, _, body = await wait_artifact(proxy, build["key"], 0)
    assert status == 502, "the failure stays until someone asks again"
    async with proxy.session.get(proxy.server.make_url("/v1/artifacts"), headers=ADMIN) as r:
        assert await r.json() == [], "a failed build is not stored"
    retried = await request_build(proxy, [str(base / "model.onnx")], {"fail": True, "gate": str(gate)},
                                  target=TARGET, retry=True)
    assert retried["state"] == "pending"


async def test_a_killed_worker_s_build_is_taken_over(start_proxy: ProxyFactory, start_worker: WorkerFactory,
                                                      upstream: tuple[FakeUpstream, URL], tmp_path: Path) -> None:
    fake, base = upstream
    fake.add("/model.onnx", MODEL)
    proxy = await start_proxy(recipe_modules=(RECIPE_MODULE,), build_lease_ttl=1.0)
    marker, gate = tmp_path / "marker", tmp_path / "gate"
    build = await request_build(proxy, [str(base / "model.onnx")], {"marker": str(marker), "gate": str(gate)},
                                target=TARGET)
    first = await start_worker(str(proxy.server.make_url("")), ADMIN_TOKEN, "w1")
    await first.output.wait_for("build started", first.proc)
    await until(lambda: marker.exists() and "start" in marker.read_text())  # the build process runs
    await first.kill()
    second = await start_worker(str(proxy.server.make_url("")), ADMIN_TOKEN, "w2")
    await second.output.wait_for("build started", second.proc)
    gate.touch()
    status, body, _ = await wait_artifact(proxy, build["key"])
    assert status == 200
    assert body == gzipped(MODEL)
    lines = marker.read_text().split()
    assert lines.count("start") == 2, "the killed worker's build, then the second worker's"
    assert lines.count("done") == 1, "the killed worker's build process died with it"
    async with proxy.session.get(proxy.server.make_url(f"/v1/artifacts/{build['key']}"), headers=ADMIN) as r:
        assert r.status == 200
