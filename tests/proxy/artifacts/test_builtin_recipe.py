"""The built-in ``onnxruntime-optimize`` recipe through the whole path: a real build worker builds it
from a model fetched through the cache, the client downloads it, and the optimized model gives the
original's outputs. Skipped where the built-in recipes are not installed."""

from __future__ import annotations

import importlib
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from yarl import URL

from bench.onnx_model import make_model, sample_input
from modelmanager_client import get_artifact
from proxy.artifacts.recipe import registry
from tests.client.conftest import blocking, host
from tests.conftest import ADMIN, ADMIN_TOKEN, Proxy
from tests.fakes.fake_http import FakeUpstream
from tests.proxy.artifacts.workers import WorkerFactory

ProxyFactory = Callable[..., Awaitable[Proxy]]
RECIPE = "onnxruntime-optimize"

pytestmark = pytest.mark.skipif(RECIPE not in registry(), reason=f"the built-in {RECIPE} recipe is not installed "
                                "(proxy/artifacts/recipes) or onnxruntime is missing")


def run(path: Path, hidden: int, optimize: bool) -> Any:
    ort: Any = importlib.import_module("onnxruntime")  # no type stubs
    options = ort.SessionOptions()
    if not optimize:
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    session = ort.InferenceSession(str(path), sess_options=options, providers=["CPUExecutionProvider"])
    return session.run(None, {"input": sample_input(hidden)})[0]


async def test_onnxruntime_optimize_is_built_once_and_gives_the_same_outputs(
        start_proxy: ProxyFactory, start_worker: WorkerFactory, upstream: tuple[FakeUpstream, URL],
        tmp_path: Path) -> None:
    fake, base = upstream
    model = tmp_path / "model.onnx"
    make_model(model, blocks=6, hidden=32)
    fake.add("/model.onnx", model.read_bytes())
    proxy = await start_proxy()
    await start_worker(host(proxy), ADMIN_TOKEN, "cpu-1", module=False)
    path = await blocking(get_artifact, str(base / "model.onnx"), RECIPE, options={"level": "extended"},
                          host=host(proxy), token=ADMIN_TOKEN, dest=tmp_path / "artifacts")
    assert path.read_bytes() != model.read_bytes(), "the graph was rewritten"
    np.testing.assert_allclose(run(path, 32, optimize=False), run(model, 32, optimize=False), rtol=1e-4, atol=1e-5)
    async with proxy.session.get(proxy.server.make_url("/v1/artifacts"), headers=ADMIN,
                                 params={"recipe": RECIPE}) as r:
        [stored] = await r.json()
    assert "onnxruntime" in stored["target"], "the target names the onnxruntime version it was built with"
    assert stored["names"] == ["model.onnx"]
    assert fake.count("/model.onnx") == 1
