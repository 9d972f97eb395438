"""``ucx``: the UCX sidecar (ucxx and NIXL, several UCX settings) against the client's HTTP
transport and path hand-off, for one warm blob moved into host memory, in one run. The GPU-memory
variant is ``bench/gpu_ucx.py``. Rows say ``skipped`` where ucxx or NIXL is not installed."""

from __future__ import annotations

import importlib.util
import os
from urllib.parse import quote

from bench.client_load import warm
from bench.files import read_through
from bench.proxy_proc import ProxyOptions
from bench.report import Row, mb
from bench.scenarios.env import Emit, Env, size_label, skipped
from bench.ucx_compare import HOST_VARIANTS, run_variant

FILE = "ucx.bin"


def _installed(transport: str) -> bool:
    if transport == "ucxx":
        return importlib.util.find_spec("ucxx") is not None
    if transport == "nixl":
        return any(importlib.util.find_spec(m) is not None for m in ("nixl_cu13", "nixl_cu12"))
    return True


def ucx(env: Env, emit: Emit) -> None:
    path = env.workdir / "files" / FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as out:
        for _ in range(0, env.sizes.big, 16 << 20):
            out.write(os.urandom(min(16 << 20, env.sizes.big)))
        out.truncate(env.sizes.big)
    try:
        with env.proxy(ProxyOptions(), "ucx") as proxy:
            url = env.upstream.url(FILE)
            warm(f"{proxy.base}/v1/fetch?url={quote(url, safe='')}")
            read_through(path)
            outcomes = []
            for variant in HOST_VARIANTS:
                if not _installed(variant.transport):
                    emit(skipped("ucx", variant.label, f"{variant.transport} is not installed"))
                    continue
                outcomes.append(run_variant(variant, proxy.base, url, proxy.cache_dir, env.workdir,
                                            runs=max(2, env.sizes.runs)))
            env.check_log(proxy, "ucx")
    finally:
        path.unlink(missing_ok=True)
    reference = next((o.best for o in outcomes if o.variant.transport == "handoff" and o.seconds), None)
    for o in outcomes:
        if not o.seconds:
            emit(skipped("ucx", o.variant.label, o.note))
            continue
        against = f"{reference / o.best:.2f} x path hand-off's speed" if reference else "-"
        emit(Row("ucx", f"{size_label(env.sizes.big)} warm blob into host memory: {o.variant.label}",
                 f"{o.best:.3f} s ({mb(o.size / o.best)} MB/s)", against + ("" if o.ok else "; NOT BYTE-EXACT"),
                 f"runs {'/'.join(f'{s:.3f}' for s in o.seconds)} s; destination allocated and touched once"))
