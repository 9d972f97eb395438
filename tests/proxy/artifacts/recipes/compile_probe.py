"""Run as ``python -m tests.proxy.artifacts.recipes.compile_probe CACHE_FILE WEIGHTS``: load the cache file
the way a consumer does (when given: a mega-cache ``.bin`` with ``load_cache_artifacts``, a cache-dir
``.tar`` extracted beside ``$TORCHINDUCTOR_CACHE_DIR``), compile the entry model, and print inductor's
cache counters as JSON."""

from __future__ import annotations

import json
import os
import sys
import tarfile
from pathlib import Path

import torch
from torch._dynamo.utils import counters

from tests.proxy.artifacts.recipes.torch_entry import mlp


def main(cache: str, weights: str) -> None:
    if cache.endswith(".tar"):
        with tarfile.open(cache) as tar:
            tar.extractall(Path(os.environ["TORCHINDUCTOR_CACHE_DIR"]).parent, filter="data")
    elif cache != "-":
        torch.compiler.load_cache_artifacts(Path(cache).read_bytes())
    model, inputs = mlp([Path(weights)], "cpu")
    with torch.no_grad():
        compiled = torch.compile(model)(*inputs)
        torch.testing.assert_close(compiled, model(*inputs))
    print(json.dumps(dict(counters["inductor"])))


if __name__ == "__main__":
    main(*sys.argv[1:])
