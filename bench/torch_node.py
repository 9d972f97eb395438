"""One "second node" of ``bench/gpu_artifact_nodes.py``, in a fresh interpreter with empty compiler caches:
time to the model's first compiled answer.

``compile``: the weights from the warm proxy, ``torch.compile`` from scratch. ``artifact``: also the
``torch-compile-cache`` artifact (``get_artifact``), loaded (a mega-cache with
``torch.compiler.load_cache_artifacts``, a cache-dir tar extracted beside
``$TORCHINDUCTOR_CACHE_DIR``) before compiling. Prints one JSON line.
"""

from __future__ import annotations

import time

STARTED = time.monotonic()

import argparse  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import shutil  # noqa: E402
import tarfile  # noqa: E402
import urllib.parse  # noqa: E402
import urllib.request  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("mode", choices=["artifact", "compile"])
    parser.add_argument("--proxy", required=True)
    parser.add_argument("--token", required=True)
    parser.add_argument("--source", required=True)
    parser.add_argument("--options", required=True)
    parser.add_argument("--dest", type=Path, required=True)
    args = parser.parse_args()
    options = json.loads(args.options)
    os.environ["TORCHINDUCTOR_CACHE_DIR"] = str(args.dest / "inductor")
    os.environ["TRITON_CACHE_DIR"] = str(args.dest / "triton")
    weights = args.dest / "model.pt"
    url = f"{args.proxy}/v1/fetch?url={urllib.parse.quote(args.source, safe='')}"
    with urllib.request.urlopen(url, timeout=600) as response, open(weights, "wb") as f:
        shutil.copyfileobj(response, f, 1 << 20)
    import torch

    from bench.torch_model import build

    loaded = 0.0
    if args.mode == "artifact":
        from modelmanager_client import get_artifact

        started = time.monotonic()
        path = get_artifact(args.source, "torch-compile-cache", options=options, host=args.proxy, token=args.token,
                            dest=args.dest / "artifacts")
        if options.get("package") == "cache-dir":
            with tarfile.open(path) as tar:
                tar.extractall(args.dest, filter="data")
        else:
            torch.compiler.load_cache_artifacts(path.read_bytes())
        loaded = time.monotonic() - started
    device = options.get("device", "cpu")
    model, inputs = build([weights], device)
    compiled: Any = torch.compile(model, mode=options.get("mode", "default"), dynamic=options.get("dynamic"),
                                  fullgraph=options.get("fullgraph", False))
    before = time.monotonic()
    with torch.set_grad_enabled(not options.get("inference", True)):
        out = compiled(*inputs)
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    ready = time.monotonic()
    print(json.dumps({"seconds": ready - STARTED, "first_call": ready - before, "artifact": loaded,
                      "output": out.float().flatten()[:64].cpu().tolist()}))


if __name__ == "__main__":
    main()
