"""A build no live worker offers is said so at once: ``POST /v1/builds`` answers ``no_worker`` with the
targets live workers offer, and ``GET /v1/artifacts/{key}?wait=`` answers ``503`` with ``Retry-After``
at once instead of at its timeout; once a worker that offers the target comes, it is built."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

from yarl import URL

from tests.conftest import ADMIN_TOKEN, Proxy
from tests.fakes.fake_http import FakeUpstream
from tests.proxy.artifacts.test_builds import MODEL, TARGET, gzipped, request_build, wait_artifact
from tests.proxy.artifacts.workers import RECIPE_MODULE, WorkerFactory

ProxyFactory = Callable[..., Awaitable[Proxy]]
OTHER = {"gpu": "NVIDIA B200", "compute": "10.0"}


async def test_no_worker_is_answered_at_once_until_one_offers_the_target(
        start_proxy: ProxyFactory, start_worker: WorkerFactory, upstream: tuple[FakeUpstream, URL]) -> None:
    fake, base = upstream
    fake.add("/model.onnx", MODEL)
    proxy = await start_proxy(recipe_modules=(RECIPE_MODULE,))
    url = str(base / "model.onnx")
    build = await request_build(proxy, [url], {}, target=TARGET)
    assert (build["state"], build["offered"]) == ("no_worker", []), "no worker at all yet"
    async with proxy.session.get(proxy.server.make_url("/v1/status"),
                                 headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}) as r:
        listed = (await r.json())["artifacts"]["builds"]
    assert [(b["key"], b["state"]) for b in listed] == [(build["key"], "no_worker")], "the status page says so too"

    started = time.monotonic()
    async with proxy.session.get(proxy.server.make_url(f"/v1/artifacts/{build['key']}"),
                                 params={"wait": "120"}, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}) as r:
        body = await r.json()
        assert r.status == 503
        assert r.headers["Retry-After"] == "30"
    assert time.monotonic() - started < 10, "answered at once, not after the 120 s wait"
    assert body["state"] == "no_worker"
    assert (body["recipe"], body["target"], body["offered"]) == ("test-gzip", TARGET, [])
    assert "no build worker for this target" in body["error"]

    await start_worker(str(proxy.server.make_url("")), ADMIN_TOKEN, "w1")  # it offers TARGET: the build runs
    status, data, _ = await wait_artifact(proxy, build["key"])
    assert status == 200
    assert data == gzipped(MODEL)

    other = await request_build(proxy, [url], {}, target=OTHER)
    assert (other["state"], other["offered"]) == ("no_worker", [TARGET]), "the targets live workers offer"
    async with proxy.session.get(proxy.server.make_url(f"/v1/builds/{other['key']}"), params={"wait": "120"},
                                 headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}) as r:
        view = await r.json()
    assert (view["state"], view["offered"]) == ("no_worker", [TARGET])
    status, _, body = await wait_artifact(proxy, other["key"], 120)
    assert status == 503
    assert body is not None
    assert body["offered"] == [TARGET]
    assert "NVIDIA B200" in body["error"]
    assert TARGET["machine"] in body["error"]

