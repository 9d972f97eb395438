"""Derived artifacts across pods (real Redis, ``modelmanager serve`` pods, ``build-worker`` processes):
8 concurrent requesters on 3 pods get one build, byte-exact, whatever the number of workers; a worker
killed mid-build is replaced by a worker on another pod once its Redis lease lapses. The recipe
comes from an installed plugin (the ``modelmanager.recipes`` entry-point group)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from yarl import URL

from tests.cluster.conftest import PodFactory
from tests.control import until
from tests.fakes.fake_http import FakeUpstream
from tests.proxy.artifacts.test_builds import gzipped
from tests.proxy.artifacts.workers import WorkerFactory, child_env, worker_pool

MODEL = bytes(range(256)) * 4000


def install_plugin(into: Path) -> Path:
    """A distribution that registers the test recipe under ``modelmanager.recipes``, as ``pip install``
    of a recipe plugin would (a ``.dist-info`` on the path)."""
    dist = into / "mm_test_recipes-1.0.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: mm-test-recipes\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text(
        "[modelmanager.recipes]\ntest-gzip = tests.proxy.artifacts.gzip_recipe:RECIPE\n")
    return into


@pytest.fixture
async def start_worker(tmp_path: Path) -> AsyncIterator[WorkerFactory]:
    async with worker_pool(tmp_path) as start:
        yield start


@pytest.fixture
def plugin_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The pods (child processes) start with the plugin and the test package on their path."""
    path = install_plugin(tmp_path / "plugins")
    monkeypatch.setenv("PYTHONPATH", child_env(path)["PYTHONPATH"])
    return path


async def requester(session: aiohttp.ClientSession, pod_url: URL, admin: dict[str, str], source: str,
                    options: dict[str, Any]) -> tuple[str, int, bytes]:
    async with session.post(pod_url / "v1" / "builds", headers=admin,
                            json={"sources": [source], "recipe": "test-gzip", "options": options}) as r:
        build = await r.json()
        assert r.status in (200, 202), build
    async with session.get((pod_url / "v1" / "artifacts" / build["key"]).with_query(wait="60"), headers=admin) as r:
        return build["key"], r.status, await r.read()


async def test_eight_requesters_on_three_pods_get_one_build(
        start_pods: PodFactory, start_worker: WorkerFactory, plugin_path: Path, session: aiohttp.ClientSession,
        upstream: tuple[FakeUpstream, URL], tmp_path: Path) -> None:
    fake, base = upstream
    fake.add("/model.onnx", MODEL)
    pods = await start_pods(3, ("--build-lease-ttl", "2"))
    token = pods[0].admin["Authorization"].removeprefix("Bearer ")
    env = child_env(plugin_path)
    for i, pod in enumerate(pods[:2]):  # two workers compete for every build
        await start_worker(str(pod.url), token, f"w{i}", module=False, env=env)
    marker = tmp_path / "marker"
    options = {"marker": str(marker), "level": 1}
    results = await asyncio.gather(*(requester(session, pods[i % 3].url, pods[0].admin, str(base / "model.onnx"),
                                               options) for i in range(8)))
    assert len({key for key, _, _ in results}) == 1, "every pod computed the same key"
    assert [(status, body == gzipped(MODEL, 1)) for _, status, body in results] == [(200, True)] * 8
    assert marker.read_text().split().count("start") == 1, "exactly one build in the cluster"
    assert fake.count("/model.onnx") == 1, "the source was fetched once for the cluster"
    key = results[0][0]
    for pod in pods:
        async with session.get(pod.url / "v1" / "artifacts", headers=pod.admin) as r:
            listed = await r.json()
        assert [a["key"] for a in listed] == [key]


async def test_a_worker_killed_mid_build_is_replaced_through_another_pod(
        start_pods: PodFactory, start_worker: WorkerFactory, plugin_path: Path, session: aiohttp.ClientSession,
        upstream: tuple[FakeUpstream, URL], tmp_path: Path) -> None:
    fake, base = upstream
    fake.add("/model.onnx", MODEL)
    pods = await start_pods(2, ("--build-lease-ttl", "1.5"))
    token = pods[0].admin["Authorization"].removeprefix("Bearer ")
    env = child_env(plugin_path)
    marker, gate = tmp_path / "marker", tmp_path / "gate"
    first = await start_worker(str(pods[0].url), token, "w0", module=False, env=env)
    waiter = asyncio.create_task(requester(session, pods[1].url, pods[1].admin, str(base / "model.onnx"),
                                           {"marker": str(marker), "gate": str(gate)}))
    await until(lambda: marker.exists() and "start" in marker.read_text())
    await first.kill()  # SIGKILL: its lease on pod-0's Redis lapses
    second = await start_worker(str(pods[1].url), token, "w1", module=False, env=env)
    await second.output.wait_for("build started", second.proc)
    gate.touch()
    key, status, body = await waiter
    assert status == 200
    assert body == gzipped(MODEL)
    lines = marker.read_text().split()
    assert lines.count("start") == 2, "the killed worker's build, then the one that took it over"
    assert lines.count("done") == 1, "the killed worker's build process died with it"
    async with session.get(pods[0].url / "v1" / "builds" / key, headers=pods[0].admin) as r:
        assert (await r.json())["state"] == "ready"
