"""A watch that names a recipe builds the new version's artifacts (through a real build worker)
before it switches; a failing build keeps the old version served."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable
from pathlib import Path

import huggingface_hub as hfh

from proxy import appkeys
from proxy.digest import Digest
from tests.adapters.hf.test_clients import endpoint, in_thread
from tests.conftest import ADMIN_TOKEN, Proxy
from tests.control import call, until
from tests.fakes.fake_hub import FakeHub
from tests.proxy.artifacts.test_builds import gzipped
from tests.proxy.artifacts.workers import RECIPE_MODULE, WorkerFactory

ProxyFactory = Callable[..., Awaitable[Proxy]]


async def test_a_watch_builds_the_new_version_s_artifacts_before_switching(
        hf_proxy: ProxyFactory, hub: FakeHub, start_worker: WorkerFactory, tmp_path: Path) -> None:
    proxy = await hf_proxy(recipe_modules=(RECIPE_MODULE,))
    control = proxy.app[appkeys.CONTROL]
    await start_worker(str(proxy.server.make_url("")), ADMIN_TOKEN, "gpu-1")
    marker, gate = tmp_path / "marker", tmp_path / "gate"
    gate.touch()
    repo = hub.create("org/model")
    old = os.urandom(100_000)
    commit_a = repo.commit({"config.json": b"{}", "model.onnx": old})
    builds = [{"recipe": "test-gzip", "options": {"marker": str(marker), "gate": str(gate)}, "files": ["*.onnx"]}]
    answer = await call(proxy, "POST", "/v1/watches", {"url": "hf://org/model", "interval": 3600, "builds": builds},
                        expect=201)
    assert answer["builds"][0]["options"] == {"level": 6, "marker": str(marker), "gate": str(gate)}, "canonical"
    watch = control.watches.get("hf://org/model")
    assert watch is not None
    await until(lambda: watch.version == commit_a)
    first = await call(proxy, "GET", "/v1/artifacts", expect=200, source=str(Digest.of(old)))
    assert [a["names"] for a in first] == [["model.onnx"]], "built before the first version was served"

    new = os.urandom(100_000)
    commit_b = repo.commit({"model.onnx": new})
    gate.unlink()  # the build of the new version is held open
    check = asyncio.ensure_future(control.watches.check(watch))
    await until(lambda: marker.read_text().split().count("start") == 2)
    info = await in_thread(hfh.HfApi(endpoint=endpoint(proxy), token=False).model_info, "org/model")
    assert info.sha == commit_a, "the new commit is cached but its artifact is not built: not switched yet"
    assert not check.done()
    gate.touch()
    assert await check is True
    assert watch.version == commit_b
    built = await call(proxy, "GET", "/v1/artifacts", expect=200, source=str(Digest.of(new)))
    assert len(built) == 1
    assert watch.switched_at is not None
    assert built[0]["created_at"] <= watch.switched_at, "the artifact was stored before the switch"
    async with proxy.session.get(proxy.server.make_url(f"/v1/artifacts/{built[0]['key']}"),
                                 headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}) as r:
        assert await r.read() == gzipped(new)
    assert marker.read_text().split().count("start") == 2, "one build per version"


async def test_a_failing_prebuild_keeps_the_old_version(hf_proxy: ProxyFactory, hub: FakeHub,
                                                        start_worker: WorkerFactory) -> None:
    proxy = await hf_proxy(recipe_modules=(RECIPE_MODULE,))
    control = proxy.app[appkeys.CONTROL]
    await start_worker(str(proxy.server.make_url("")), ADMIN_TOKEN, "gpu-1")
    repo = hub.create("org/broken")
    repo.commit({"model.onnx": b"onnx"})
    builds = [{"recipe": "test-gzip", "options": {"fail": True}}]
    await call(proxy, "POST", "/v1/watches", {"url": "hf://org/broken", "interval": 3600, "builds": builds},
               expect=201)
    watch = control.watches.get("hf://org/broken")
    assert watch is not None
    await until(lambda: watch.last_error is not None)
    assert watch.version is None, "never switched to a version whose artifact failed"
    assert "pre-build" in (watch.last_error or "")
    assert "compilation failed" in (watch.last_error or "")
    bad = await call(proxy, "POST", "/v1/watches", {"url": "hf://org/broken", "builds": [{"recipe": "nope"}]})
    assert "unknown recipe" in bad["error"]
