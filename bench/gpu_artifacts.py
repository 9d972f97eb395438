"""Derived artifacts on a GPU node: the ``tensorrt`` recipe's engine build, and ``torch.compile`` on a
fresh node cold vs from the ``torch-compile-cache`` artifact.

Self-contained: needs torch, onnx and the proxy's own wheels (pydantic for the recipe modules; see
``../shared/notes/gpu-node.md``), no network. A few minutes on an H200 node with the defaults::

    PYTHONPATH=<wheels dir> python3 bench/gpu_artifacts.py           # from the checkout's root
    python3 bench/gpu_artifacts.py --device cpu --runs 1 --model mlp  # anywhere: CPU inductor

(a) tensorrt: an ONNX MLP built into an engine by the recipe in a spawned child (time, size), or the
reason it is skipped. (b) torch.compile: the recipe builds the cache artifact once (in a spawned
child, private inductor/Triton cache); then ``--runs`` fresh processes, each with an empty local
cache, compile the same model and run it once: *cold* (nothing loaded), *mega-cache* (the artifact's
bytes loaded with ``torch.compiler.load_cache_artifacts`` first), *cache-dir* (the recipe's tar of
the inductor and Triton cache directories extracted first), and *local* (the cache directory the
cold run left behind: the same node's second start, the ceiling). Time = ``torch.compile`` + first
call (CUDA synchronized), and the load for the artifacts. The table goes to stdout, and to
``$OUT/artifacts.md`` (with ``artifacts.json``) when ``OUT`` is set.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import platform
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
# Run as a script, bench/ would come first on sys.path, and bench/profile.py would hide the standard
# library's ``profile`` (which torch._dynamo imports).
sys.path[:] = [str(ROOT)] + [p for p in sys.path if Path(p or ".").resolve() != ROOT / "bench"]
os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p)

import torch  # noqa: E402


def model_and_inputs(kind: str, device: str) -> tuple[torch.nn.Module, tuple[torch.Tensor, ...]]:
    """A few-layer MLP or one transformer encoder block, with fixed weights and one example batch."""
    torch.manual_seed(14)
    model: torch.nn.Module
    if kind == "mlp":
        model = torch.nn.Sequential(*(layer for _ in range(4) for layer in (torch.nn.Linear(1024, 1024),
                                                                             torch.nn.GELU())))
        inputs = (torch.randn(32, 1024),)
    else:
        model = torch.nn.TransformerEncoderLayer(d_model=512, nhead=8, dim_feedforward=2048, batch_first=True)
        inputs = (torch.randn(8, 128, 512),)
    return model.to(device).eval(), tuple(t.to(device) for t in inputs)


def entry(sources: Sequence[Path], device: str) -> tuple[torch.nn.Module, tuple[torch.Tensor, ...]]:
    """The recipe's entry point: the model kind is the first source file's content."""
    return model_and_inputs(Path(sources[0]).read_text().strip(), device)


def probe(kind: str, device: str, mode: str, cache: str) -> dict[str, Any]:
    """One consumer start (run in its own process): load the artifact (unless ``-``), compile, call once."""
    from torch._dynamo.utils import counters

    started = time.perf_counter()
    if cache.endswith(".tar"):  # the cache-dir package: extracted where this process's caches live
        with tarfile.open(cache) as tar:
            tar.extractall(Path(os.environ["TORCHINDUCTOR_CACHE_DIR"]).parent, filter="data")
    elif cache != "-":
        torch.compiler.load_cache_artifacts(Path(cache).read_bytes())
    loaded = time.perf_counter()
    model, inputs = model_and_inputs(kind, device)
    made = time.perf_counter()
    with torch.no_grad():
        compiled = torch.compile(model, mode=mode)
        compiled(*inputs)
        if device == "cuda":
            torch.cuda.synchronize()
    done = time.perf_counter()
    return {"load_s": loaded - started, "compile_s": done - made,
            "fx_hit": counters["inductor"]["fxgraph_cache_hit"], "fx_miss": counters["inductor"]["fxgraph_cache_miss"]}


def start(kind: str, device: str, mode: str, cache: Path | None, cache_dir: Path) -> dict[str, Any]:
    """``probe`` in a fresh interpreter whose inductor and Triton caches live in ``cache_dir``."""
    env = {**os.environ, "TORCHINDUCTOR_CACHE_DIR": str(cache_dir / "inductor"),
           "TRITON_CACHE_DIR": str(cache_dir / "triton")}
    started = time.perf_counter()
    run = subprocess.run([sys.executable, __file__, "--probe", str(cache or "-"), "--model", kind, "--device",
                          device, "--mode", mode], capture_output=True, text=True, env=env, check=False)
    if run.returncode != 0:
        raise RuntimeError(f"probe failed:\n{run.stderr[-4000:]}")
    result: dict[str, Any] = json.loads(run.stdout.splitlines()[-1])
    result["process_s"] = time.perf_counter() - started
    return result


def _build(recipe: Any, job: Any) -> Path:
    path: Path = recipe.build(job)
    return path


def build_in_child(recipe: Any, job: Any) -> Path:
    """``recipe.build(job)`` in a spawned interpreter, as the build runner does."""
    with ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn")) as pool:
        return pool.submit(_build, recipe, job).result()


def job_for(sources: list[Path], options: dict[str, Any], work: Path) -> Any:
    from proxy.artifacts.recipe import BuildInput

    scratch = Path(tempfile.mkdtemp(dir=work, prefix="scratch-"))
    return BuildInput(sources=tuple(sources), names=tuple(s.name for s in sources), options=options,
                      scratch=scratch, deadline=time.monotonic() + 1800, log=scratch.with_suffix(".log"))


def onnx_mlp(path: Path, width: int = 1024, layers: int = 4, batch: int = 32) -> None:
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(14)
    nodes, weights, last = [], [], "x"
    for i in range(layers):
        weights += [numpy_helper.from_array((rng.standard_normal((width, width)) / 32).astype(np.float32), f"w{i}"),
                    numpy_helper.from_array(np.zeros(width, np.float32), f"b{i}")]
        nodes += [helper.make_node("MatMul", [last, f"w{i}"], [f"m{i}"]),
                  helper.make_node("Add", [f"m{i}", f"b{i}"], [f"a{i}"]),
                  helper.make_node("Relu", [f"a{i}"], [f"y{i}"])]
        last = f"y{i}"
    graph = helper.make_graph(nodes, "mlp", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [batch, width])],
                              [helper.make_tensor_value_info(last, TensorProto.FLOAT, [batch, width])], weights)
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8), str(path))


def tensorrt_part(work: Path) -> dict[str, Any]:
    try:
        from proxy.artifacts.recipes.tensorrt_engine import TensorRT
    except ImportError as error:
        return {"skipped": f"the recipe modules do not import ({error}): put the proxy's wheels on PYTHONPATH"}
    recipe = TensorRT()
    if (reason := recipe.available()) is not None:
        return {"skipped": reason}
    model = work / "mlp.onnx"
    onnx_mlp(model)
    result: dict[str, Any] = {"target": recipe.target()}
    for fp16 in (False, True):
        job = job_for([model], recipe.canonical_options({"fp16": fp16}), work)
        started = time.perf_counter()
        engine = build_in_child(recipe, job)
        result["fp16" if fp16 else "fp32"] = {"build_s": time.perf_counter() - started,
                                              "engine_bytes": engine.stat().st_size}
    return result


def compile_artifact(kind: str, device: str, mode: str, package: str, work: Path) -> tuple[Path, float, str]:
    """The artifact: built by the recipe when it imports, else (mega-cache only) by the same steps here."""
    spec = work / "model-kind.txt"
    spec.write_text(kind)
    started = time.perf_counter()
    try:
        from proxy.artifacts.recipes.torch_compile_cache import TorchCompileCache
    except ImportError as error:
        how = f"torch directly (recipe modules do not import: {error})"
        path = work / "torch-compile-cache.bin"
        env = {**os.environ, "TORCHINDUCTOR_CACHE_DIR": str(work / "build-cache" / "inductor"),
               "TRITON_CACHE_DIR": str(work / "build-cache" / "triton")}
        subprocess.run([sys.executable, __file__, "--save", str(path), "--model", kind, "--device", device,
                        "--mode", mode], env=env, check=True)
        return path, time.perf_counter() - started, how
    recipe = TorchCompileCache(entry_modules=["bench.gpu_artifacts"])
    options = recipe.canonical_options({"entry": "bench.gpu_artifacts:entry", "device": device, "mode": mode,
                                        "package": package})
    output = build_in_child(recipe, job_for([spec], options, work))
    return output, time.perf_counter() - started, "the torch-compile-cache recipe in a spawned child"


def save(path: str, kind: str, device: str, mode: str) -> None:
    model, inputs = model_and_inputs(kind, device)
    with torch.no_grad():
        torch.compile(model, mode=mode)(*inputs)
    saved = torch.compiler.save_cache_artifacts()
    assert saved is not None, "torch.compile left no cache artifacts"
    Path(path).write_bytes(saved[0])


def torch_part(kind: str, device: str, mode: str, runs: int, work: Path) -> dict[str, Any]:
    artifacts = {package: compile_artifact(kind, device, mode, package, work) for package in PACKAGES}
    rows: dict[str, list[dict[str, Any]]] = {name: [] for name in STARTS}
    for i in range(runs):
        rows["cold"].append(start(kind, device, mode, None, work / f"cold{i}"))
        for package, (path, _, _) in artifacts.items():
            if path.suffix == (".tar" if package == "cache-dir" else ".bin"):
                rows[package].append(start(kind, device, mode, path, work / f"{package}{i}"))
        rows["local"].append(start(kind, device, mode, None, work / f"cold{i}"))  # the cache the cold run left
    return {"artifacts": {package: {"bytes": path.stat().st_size, "build_s": build_s, "built_by": how}
                          for package, (path, build_s, how) in artifacts.items()}, "runs": rows}


PACKAGES = ("mega-cache", "cache-dir")
STARTS = {"cold": "cold (empty cache)", "mega-cache": "mega-cache artifact loaded",
          "cache-dir": "cache-dir artifact extracted", "local": "local cache dir (same node)"}


def median(rows: list[dict[str, Any]], key: str) -> float:
    return statistics.median(float(r[key]) for r in rows)


def report(result: dict[str, Any]) -> str:
    lines = [f"# Derived artifacts on {result['machine']}", "", f"torch {result['torch']}, device {result['device']}"
             f" ({result['gpu']}), model {result['model']}, mode {result['mode']}", "", "## tensorrt recipe", ""]
    trt = result["tensorrt"]
    if "skipped" in trt:
        lines.append(f"skipped: {trt['skipped']}")
    else:
        lines += ["| precision | build s | engine bytes |", "|---|---|---|"]
        lines += [f"| {p} | {trt[p]['build_s']:.1f} | {trt[p]['engine_bytes']:,} |" for p in ("fp32", "fp16")]
        lines.append(f"\ntarget: {trt['target']}")
    tc = result["torch_compile"]
    runs = tc["runs"]
    lines += ["", "## torch.compile on a fresh process", ""]
    lines += [f"{package} artifact: {a['bytes']:,} bytes, built in {a['build_s']:.1f} s by {a['built_by']}"
              for package, a in tc["artifacts"].items()]
    lines += ["", f"| start (median of {len(runs['cold'])}) | load s | compile + first call s | process s | "
              "fx graph hits / misses |", "|---|---|---|---|---|"]
    for name, label in STARTS.items():
        if rows := runs[name]:
            lines.append(f"| {label} | {median(rows, 'load_s'):.2f} | {median(rows, 'compile_s'):.2f} | "
                         f"{median(rows, 'process_s'):.2f} | {rows[-1]['fx_hit']} / {rows[-1]['fx_miss']} |")
    cold = median(runs["cold"], "compile_s")
    lines.append("")
    for name in PACKAGES:
        if rows := runs[name]:
            ratio = cold / max(median(rows, "compile_s") + median(rows, "load_s"), 1e-9)
            lines.append(f"cold / ({name} load + compile): {ratio:.1f}x")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", choices=["mlp", "block"], default="block")
    parser.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto")
    parser.add_argument("--mode", default="default", help="torch.compile mode (e.g. max-autotune-no-cudagraphs)")
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument("--probe", help=argparse.SUPPRESS)
    parser.add_argument("--save", help=argparse.SUPPRESS)
    args = parser.parse_args()
    device = args.device if args.device != "auto" else ("cuda" if torch.cuda.is_available() else "cpu")
    if args.probe:
        print(json.dumps(probe(args.model, device, args.mode, args.probe)))
        return
    if args.save:
        save(args.save, args.model, device, args.mode)
        return
    with tempfile.TemporaryDirectory(prefix="mm-artifacts-bench-") as tmp:
        work = Path(tmp)
        result = {"machine": f"{platform.node()} ({os.cpu_count()} cores)", "torch": torch.__version__,
                  "device": device, "gpu": torch.cuda.get_device_name(0) if device == "cuda" else "no GPU used",
                  "model": args.model, "mode": args.mode, "tensorrt": tensorrt_part(work),
                  "torch_compile": torch_part(args.model, device, args.mode, args.runs, work)}
    text = report(result)
    print(text)
    if out := os.environ.get("OUT"):
        Path(out, "artifacts.md").write_text(text)
        Path(out, "artifacts.json").write_text(json.dumps(result, indent=2, default=str))


if __name__ == "__main__":
    main()
