"""artifacts: time to a ready model on a second node, with and without the cluster's stored artifact.

An ONNX model (``bench.onnx_model``) sits on the bench upstream behind a proxy with one
``modelmanager build-worker``. The first node asks for the ``onnxruntime-optimize`` artifact (the
built-in recipe; ``bench.ort_recipe`` stands in where it is not installed) and waits for the one
build. Then each "second node" (a fresh interpreter, an empty local directory) either gets the
stored artifact and opens it without optimizing, or fetches the model from the same warm proxy and
optimizes it itself, as every node does without a shared artifact. Outputs of both must agree.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from bench.onnx_model import make_model
from bench.process import ChildProcess
from bench.proxy_proc import ADMIN_TOKEN, ProxyOptions
from bench.report import Row, mb
from bench.scenarios.env import Emit, Env, skipped

MODEL = "artifact-model.onnx"
REPO = Path(__file__).resolve().parent.parent.parent
BUILTIN = "onnxruntime-optimize"
FALLBACK_MODULE = "bench.ort_recipe"


def _recipe() -> tuple[str, dict[str, Any], tuple[str, ...]]:
    """The recipe to use: the built-in one when installed, else the bench's stand-in (its module)."""
    from proxy.artifacts.recipe import registry

    if BUILTIN in registry():
        return BUILTIN, {"level": "all"}, ()
    return "bench-ort-optimize", {"level": "all"}, (FALLBACK_MODULE,)


@contextlib.contextmanager
def _importable() -> Iterator[None]:
    """Children (the proxy, the worker, the nodes) import ``bench`` and this tree's packages."""
    before = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), str(REPO / "client"), before) if p)
    try:
        yield
    finally:
        if before is None:
            os.environ.pop("PYTHONPATH", None)
        else:
            os.environ["PYTHONPATH"] = before


def _node(mode: str, proxy: str, source: str, recipe: str, options: dict[str, Any], hidden: int,
          workdir: Path) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="node-", dir=workdir) as dest:
        done = subprocess.run([sys.executable, "-m", "bench.artifact_node", mode, "--proxy", proxy, "--token",
                               ADMIN_TOKEN, "--source", source, "--recipe", recipe, "--options", json.dumps(options),
                               "--dest", dest, "--hidden", str(hidden), "--level", str(options["level"])],
                              capture_output=True, text=True, check=False, timeout=1800, cwd=REPO)
    if done.returncode != 0:
        raise RuntimeError(f"artifact node ({mode}) failed: {done.stderr.strip()[-800:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def artifacts(env: Env, emit: Emit) -> None:
    try:
        import onnx  # noqa: F401
        importlib.import_module("onnxruntime")
    except ImportError as exc:
        emit(skipped("artifacts", "ORT optimize on a second node", f"onnx/onnxruntime missing: {exc}"))
        return
    blocks, hidden = env.sizes.artifact_blocks, 64
    path = env.workdir / "files" / MODEL
    size = make_model(path, blocks, hidden)
    recipe, options, modules = _recipe()
    runs = max(2, env.sizes.runs)
    results: dict[str, list[dict[str, Any]]] = {}
    with contextlib.ExitStack() as stack:
        stack.callback(path.unlink, True)
        stack.enter_context(_importable())
        extra = ("--recipe-modules", ",".join(modules)) if modules else ()
        proxy = stack.enter_context(env.proxy(ProxyOptions(extra=extra), "artifacts"))
        argv = [sys.executable, "-m", "proxy", "build-worker", "--proxy", proxy.base, "--admin-token", ADMIN_TOKEN,
                "--name", "bench-worker", "--workdir", str(env.workdir / "build-worker")]
        for module in modules:
            argv += ["--recipe-module", module]
        worker = ChildProcess("build-worker", argv, env.workdir / "build-worker.log", cwd=REPO)
        stack.callback(worker.stop)
        stack.callback(shutil.rmtree, env.workdir / "build-worker", True)
        _wait_ready(worker)
        source = env.upstream.url(MODEL)
        with urllib.request.urlopen(f"{proxy.base}/v1/fetch?url={urllib.parse.quote(source, safe='')}",
                                    timeout=600) as response:
            cached = response.read()  # the source is cached before any node starts
        if len(cached) != size:
            raise RuntimeError("the proxy served the model short")
        first = _node("artifact", proxy.base, source, recipe, options, hidden, env.workdir)
        for _ in range(runs):  # interleaved: a disturbance hits both alike
            results.setdefault("stored", []).append(_node("artifact", proxy.base, source, recipe, options, hidden,
                                                          env.workdir))
            results.setdefault("compile", []).append(_node("compile", proxy.base, source, recipe, options, hidden,
                                                           env.workdir))
        env.check_log(proxy, "artifacts")
    same = all(_close(r["output"], results["compile"][0]["output"]) for r in results["stored"] + [first])
    best = {name: min(r["seconds"] for r in got) for name, got in results.items()}
    variant = f"{blocks}-block ONNX model ({mb(size)} MB), {recipe} level {options['level']}"
    detail = "outputs agree" if same else "OUTPUTS DIFFER"

    def runs_text(name: str) -> str:
        got = results[name]
        seconds = "/".join(f"{r['seconds']:.2f}" for r in got)
        return f"runs {seconds} s; session + first run {min(r['session'] for r in got):.2f} s"

    emit(Row("artifacts", f"{variant}: second node, no artifact (fetches the model, optimizes it itself)",
             f"{best['compile']:.2f} s", "reference", runs_text("compile")))
    emit(Row("artifacts", f"{variant}: second node, stored artifact (get_artifact, no optimization)",
             f"{best['stored']:.2f} s", f"{best['compile'] / best['stored']:.2f} x faster to ready",
             f"{runs_text('stored')}; {detail}"))
    emit(Row("artifacts", f"{variant}: first node (requests the build, waits for the worker, downloads)",
             f"{first['seconds']:.2f} s", f"{first['seconds'] / best['compile']:.2f} x the reference",
             "one build for the cluster"))


def _wait_ready(worker: ChildProcess, within: float = 60.0) -> None:
    """Until the worker has registered its targets with the proxy (it logs ``build worker ready``)."""
    deadline = time.monotonic() + within
    while b"build worker ready" not in worker.log.read_bytes():
        if not worker.alive() or time.monotonic() > deadline:
            raise RuntimeError(f"the build worker did not start: {worker.log.read_text()[-800:]}")
        time.sleep(0.1)


def _close(a: list[float], b: list[float]) -> bool:
    return len(a) == len(b) and all(abs(x - y) <= 1e-3 * max(1.0, abs(y)) for x, y in zip(a, b, strict=True))
