"""Build metrics with ``serve --workers 2``: either worker's ``/metrics`` reports the node's build
totals (prometheus-client's multiprocess mode), whichever worker took each call."""

from __future__ import annotations

from pathlib import Path

import aiohttp
from yarl import URL

from proxy.workers.worker import HEADER
from tests.conftest import ADMIN_TOKEN
from tests.fakes.fake_http import FakeUpstream
from tests.proxy.artifacts.test_builds import MODEL, TARGET, gzipped
from tests.proxy.artifacts.test_metrics import sample, samples
from tests.proxy.artifacts.workers import RECIPE_MODULE, worker_pool
from tests.workers.conftest import SupervisedFactory

RECIPE = {"recipe": "test-gzip"}


async def test_two_workers_report_the_node_s_build_totals(start_supervised: SupervisedFactory,
                                                          upstream: tuple[FakeUpstream, URL],
                                                          session: aiohttp.ClientSession, tmp_path: Path) -> None:
    fake, base = upstream
    fake.add("/model.onnx", MODEL)
    node = await start_supervised(2, ("--recipe-modules", RECIPE_MODULE))
    async with worker_pool(tmp_path) as start_worker:
        await start_worker(str(node.url), ADMIN_TOKEN, "w1")
        async with session.post(node.url / "v1" / "builds", json={"sources": [str(base / "model.onnx")], **RECIPE,
                                                                  "target": TARGET}) as r:
            assert r.status == 202
            key = (await r.json())["key"]
        async with session.get(node.url / "v1" / "artifacts" / key, params={"wait": "60"}) as r:
            assert r.status == 200
            assert await r.read() == gzipped(MODEL)
    answered: set[str] = set()
    for _ in range(40):  # whichever worker answers, and whichever took each call: the node's totals
        async with session.get(node.url / "metrics") as r:
            found = samples(await r.text())
            answered.add(r.headers[HEADER])
        assert sample(found, "modelmanager_builds_requested_total", recipe="test-gzip") == 1
        assert sample(found, "modelmanager_builds_started_total", recipe="test-gzip") == 1
        assert sample(found, "modelmanager_builds_succeeded_total", recipe="test-gzip") == 1
        assert sample(found, "modelmanager_build_duration_seconds_count", recipe="test-gzip", result="succeeded") == 1
        assert sample(found, "modelmanager_artifacts_bytes") == len(gzipped(MODEL))
        if answered == {"0", "1"}:
            break
    assert answered == {"0", "1"}, "both workers answered /metrics"
