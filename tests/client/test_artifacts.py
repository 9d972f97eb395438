"""``get_artifact``: request, wait for the one build, download verified; a failed build raises
``BuildFailed`` with the builder's log tail; a target no live worker offers raises ``NoBuildWorker``."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest
from yarl import URL

from modelmanager_client import BuildFailed, NoBuildWorker, get_artifact
from tests.client.conftest import blocking, host
from tests.conftest import ADMIN_TOKEN, Proxy
from tests.fakes.fake_http import FakeUpstream
from tests.proxy.artifacts.test_builds import TARGET, gzipped
from tests.proxy.artifacts.workers import RECIPE_MODULE, WorkerFactory, child_env, worker_pool

ProxyFactory = Callable[..., Awaitable[Proxy]]


@pytest.fixture
async def start_worker(tmp_path: Path) -> AsyncIterator[WorkerFactory]:
    async with worker_pool(tmp_path) as start:
        yield start


async def test_get_artifact_waits_for_the_build_and_returns_a_verified_file(
        start_proxy: ProxyFactory, start_worker: WorkerFactory, upstream: tuple[FakeUpstream, URL],
        tmp_path: Path) -> None:
    fake, base = upstream
    model = b"onnx graph " * 10_000
    fake.add("/model.onnx", model)
    proxy = await start_proxy(recipe_modules=(RECIPE_MODULE,))
    await start_worker(host(proxy), ADMIN_TOKEN, "w1")
    marker = tmp_path / "marker"
    options = {"level": 3, "marker": str(marker)}
    path = await blocking(get_artifact, str(base / "model.onnx"), "test-gzip", options=options, host=host(proxy),
                          token=ADMIN_TOKEN, dest=tmp_path / "artifacts")
    assert path.read_bytes() == gzipped(model, 3)
    assert path.parent == tmp_path / "artifacts"
    again = await blocking(get_artifact, str(base / "model.onnx"), "test-gzip", options=options, host=host(proxy),
                           token=ADMIN_TOKEN, dest=tmp_path / "elsewhere")
    assert again.read_bytes() == path.read_bytes()
    assert marker.read_text().split().count("start") == 1, "the second node got the stored artifact"


async def test_get_artifact_raises_the_build_failure_with_its_log(
        start_proxy: ProxyFactory, start_worker: WorkerFactory, upstream: tuple[FakeUpstream, URL],
        tmp_path: Path) -> None:
    fake, base = upstream
    fake.add("/model.onnx", b"x" * 100)
    proxy = await start_proxy(recipe_modules=(RECIPE_MODULE,))
    await start_worker(host(proxy), ADMIN_TOKEN, "w1")
    with pytest.raises(BuildFailed) as failed:
        await blocking(get_artifact, str(base / "model.onnx"), "test-gzip", options={"fail": True},
                       host=host(proxy), token=ADMIN_TOKEN, dest=tmp_path)
    assert "compilation failed" in str(failed.value)
    assert "the compiler exploded at line 42" in failed.value.log_tail
    assert list(tmp_path.glob(".partial-*")) == []


async def test_a_node_without_workers_builds_its_own_artifact_and_shares_it(
        start_proxy: ProxyFactory, upstream: tuple[FakeUpstream, URL], tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYTHONPATH", child_env()["PYTHONPATH"])  # the local build's child imports the test recipe
    fake, base = upstream
    model = b"onnx graph " * 5000
    fake.add("/model.onnx", model)
    proxy = await start_proxy(recipe_modules=(RECIPE_MODULE,))
    marker = tmp_path / "marker"
    path = await blocking(get_artifact, str(base / "model.onnx"), "test-gzip", options={"marker": str(marker)},
                          host=host(proxy), token=ADMIN_TOKEN, dest=tmp_path / "a", build_locally=True,
                          recipe_modules=(RECIPE_MODULE,), timeout=60)
    assert path.read_bytes() == gzipped(model)
    assert marker.read_text().split().count("start") == 1
    again = await blocking(get_artifact, str(base / "model.onnx"), "test-gzip", options={"marker": str(marker)},
                           host=host(proxy), token=ADMIN_TOKEN, dest=tmp_path / "b", build_locally=True,
                           recipe_modules=(RECIPE_MODULE,))
    assert again.read_bytes() == path.read_bytes()
    assert marker.read_text().split().count("start") == 1, "the second node used the stored artifact"


async def test_get_artifact_raises_no_build_worker_naming_the_targets(
        start_proxy: ProxyFactory, start_worker: WorkerFactory, upstream: tuple[FakeUpstream, URL],
        tmp_path: Path) -> None:
    fake, base = upstream
    fake.add("/model.onnx", b"x" * 100)
    proxy = await start_proxy(recipe_modules=(RECIPE_MODULE,))
    await start_worker(host(proxy), ADMIN_TOKEN, "w1")
    wanted = {"gpu": "NVIDIA B200", "compute": "10.0"}
    started = time.monotonic()
    with pytest.raises(NoBuildWorker) as refused:
        await blocking(get_artifact, str(base / "model.onnx"), "test-gzip", target=wanted, host=host(proxy),
                       token=ADMIN_TOKEN, dest=tmp_path / "artifacts", timeout=600)
    assert time.monotonic() - started < 10, "at once, not at the timeout"
    assert (refused.value.recipe, refused.value.target, refused.value.offered) == ("test-gzip", wanted, [TARGET])
    assert "NVIDIA B200" in str(refused.value)
    assert TARGET["machine"] in str(refused.value)
    assert not (tmp_path / "artifacts").exists()
