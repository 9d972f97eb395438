"""One "second node" of the ``artifacts`` scenario, in a fresh interpreter: time to a ready model.

``artifact`` mode: ``modelmanager_client.get_artifact`` (the optimized model, built once by the
cluster's worker) then an ONNX Runtime session with optimizations off. ``compile`` mode: the model
from the warm proxy, then a session that optimizes it here (what every node does without the
artifact). Prints one JSON line: seconds (from the start of ``main``, imports included), the
session's share, and the first outputs for the byte-level comparison of the two ways.
"""

from __future__ import annotations

import importlib
import time

STARTED = time.monotonic()

import argparse  # noqa: E402
import json  # noqa: E402
import shutil  # noqa: E402
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
    parser.add_argument("--recipe", default="")
    parser.add_argument("--options", default="{}")
    parser.add_argument("--dest", type=Path, required=True)
    parser.add_argument("--hidden", type=int, required=True)
    parser.add_argument("--level", default="all")
    args = parser.parse_args()
    import numpy as np
    ort: Any = importlib.import_module("onnxruntime")  # no type stubs

    from bench.onnx_model import sample_input

    options = ort.SessionOptions()
    if args.mode == "artifact":
        from modelmanager_client import get_artifact

        path = get_artifact(args.source, args.recipe, options=json.loads(args.options), host=args.proxy,
                            token=args.token, dest=args.dest)
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    else:
        path = args.dest / "model.onnx"
        args.dest.mkdir(parents=True, exist_ok=True)
        url = f"{args.proxy}/v1/fetch?url={urllib.parse.quote(args.source, safe='')}"
        with urllib.request.urlopen(url, timeout=600) as response, open(path, "wb") as f:
            shutil.copyfileobj(response, f, 1 << 20)
        options.graph_optimization_level = {"basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
                                            "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
                                            "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL}[args.level]
    fetched = time.monotonic()
    options.log_severity_level = 3
    session = ort.InferenceSession(str(path), sess_options=options, providers=["CPUExecutionProvider"])
    output = session.run(None, {"input": sample_input(args.hidden)})[0]
    ready = time.monotonic()
    print(json.dumps({"seconds": ready - STARTED, "session": ready - fetched,
                      "output": np.asarray(output).ravel()[:64].tolist()}))


if __name__ == "__main__":
    main()
