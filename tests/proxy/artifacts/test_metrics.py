"""Build metrics on ``/metrics``: requested/started/succeeded/failed by recipe, the duration
histogram, the stored artifacts' bytes and the waiters, with a real ``build-worker`` process
(tests/workers/test_build_metrics.py: the same on ``serve --workers 2``)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path

import aiohttp
from prometheus_client.parser import text_string_to_metric_families
from yarl import URL

from proxy.appkeys import METRICS
from tests.conftest import ADMIN, ADMIN_TOKEN, Proxy
from tests.control import until
from tests.fakes.fake_http import FakeUpstream
from tests.proxy.artifacts.test_builds import MODEL, TARGET, gzipped, request_build, wait_artifact
from tests.proxy.artifacts.workers import RECIPE_MODULE, WorkerFactory

ProxyFactory = Callable[..., Awaitable[Proxy]]


Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def samples(text: str) -> Samples:
    """Every sample of a Prometheus text exposition: (name, sorted labels) -> value."""
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def sample(found: Samples, name: str, **labels: str) -> float:
    return found.get((name, tuple(sorted(labels.items()))), 0.0)


async def scrape(session: aiohttp.ClientSession, url: URL | str) -> Samples:
    async with session.get(url) as r:
        assert r.status == 200
        return samples(await r.text())


async def test_builds_show_on_metrics(start_proxy: ProxyFactory, start_worker: WorkerFactory,
                                      upstream: tuple[FakeUpstream, URL], tmp_path: Path) -> None:
    fake, base = upstream
    fake.add("/model.onnx", MODEL)
    proxy = await start_proxy(recipe_modules=(RECIPE_MODULE,))
    url, gate = str(base / "model.onnx"), tmp_path / "gate"
    metrics_url = proxy.server.make_url("/metrics")
    await start_worker(str(proxy.server.make_url("")), ADMIN_TOKEN, "w1")  # it builds one at a time: held at the gate
    good = await request_build(proxy, [url], {"gate": str(gate)}, target=TARGET)
    bad = await request_build(proxy, [url], {"fail": True, "gate": str(gate)}, target=TARGET)
    await request_build(proxy, [url], {"gate": str(gate)}, target=TARGET)  # joins the first: not counted
    found = await scrape(proxy.session, metrics_url)
    assert sample(found, "modelmanager_builds_requested_total", recipe="test-gzip") == 2

    waiters = [asyncio.create_task(wait_artifact(proxy, key)) for key in (good["key"], bad["key"]) for _ in range(3)]
    await until(lambda: proxy.server.app[METRICS].value("modelmanager_build_waiters") == 6)
    found = await scrape(proxy.session, metrics_url)
    assert sample(found, "modelmanager_build_waiters") == 6, "six requests wait on the two builds"
    gate.touch()
    statuses = sorted(status for status, _, _ in await asyncio.gather(*waiters))
    assert statuses == [200] * 3 + [502] * 3

    found = await scrape(proxy.session, metrics_url)
    assert sample(found, "modelmanager_builds_started_total", recipe="test-gzip") == 2
    assert sample(found, "modelmanager_builds_succeeded_total", recipe="test-gzip") == 1
    assert sample(found, "modelmanager_builds_failed_total", recipe="test-gzip") == 1
    for result in ("succeeded", "failed"):
        assert sample(found, "modelmanager_build_duration_seconds_count", recipe="test-gzip", result=result) == 1
        assert sample(found, "modelmanager_build_duration_seconds_sum", recipe="test-gzip", result=result) > 0
    assert sample(found, "modelmanager_build_waiters") == 0
    assert sample(found, "modelmanager_artifacts") == 1
    assert sample(found, "modelmanager_artifacts_bytes") == len(gzipped(MODEL))
    async with proxy.session.get(proxy.server.make_url(f"/v1/artifacts/{good['key']}"), headers=ADMIN) as r:
        assert await r.read() == gzipped(MODEL)
