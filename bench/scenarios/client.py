"""The client library (``modelmanager_client``) against the stock ways, side by side in one run:

* ``client-load``: ``load_safetensors(device="cpu")`` over HTTP from a warm proxy and by path
  hand-off, vs ``safetensors.torch.load_file`` of a local copy (the GPU variant is
  ``bench/gpu_client.py``);
* ``client-snapshot``: ``modelmanager_snapshot`` vs ``huggingface_hub.snapshot_download``, both
  through the same warm proxy, of hf-snapshot's 50-file repo.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from urllib.parse import quote

from bench.client_load import make_safetensors, measure, warm
from bench.files import read_through
from bench.hf_client import Snapshot, snapshot
from bench.hub import HubProcess
from bench.proxy_proc import ProxyOptions
from bench.report import Row, mb
from bench.scenarios.env import Emit, Env, size_label
from bench.scenarios.hf import make_repo, same_tree

LOAD_FILE = "client-load.safetensors"


def client_load(env: Env, emit: Emit) -> None:
    path = env.workdir / "files" / LOAD_FILE
    make_safetensors(path, env.sizes.big)
    try:
        with env.proxy(ProxyOptions(), "client-load") as proxy:
            url = env.upstream.url(LOAD_FILE)
            warm(f"{proxy.base}/v1/fetch?url={quote(url, safe='')}")
            read_through(path)
            with tempfile.TemporaryDirectory(prefix="node-tier-", dir=env.workdir) as tier:
                results = measure(path, url, proxy.base, proxy.cache_dir, Path(tier), "cpu",
                                  connections=(1, 4), runs=max(2, env.sizes.runs))
            env.check_log(proxy, "client-load")
    finally:
        path.unlink(missing_ok=True)
    reference = results[0].best
    for r in results:
        emit(Row("client-load", f"{size_label(env.sizes.big)} safetensors, device=cpu: {r.label}",
                 f"{r.best:.2f} s ({mb(r.size / r.best)} MB/s)",
                 f"{reference / r.best:.2f} x load_file's speed" + ("" if r.ok else "; TENSORS DIFFER"),
                 f"runs {'/'.join(f'{s:.2f}' for s in r.seconds)} s. {r.note}".strip()))


def _mm_snapshot(proxy: str, repo_id: str, out: Path, workdir: Path, tier: Path) -> Snapshot:
    """One ``modelmanager_snapshot`` in a fresh interpreter with the node tier ``tier``."""
    env = {**os.environ, "MODELMANAGER_CLIENT_CACHE": str(tier), "MODELMANAGER_CACHE_MOUNT": ""}
    done = subprocess.run([sys.executable, "-m", "bench.mm_snapshot", proxy, repo_id, str(out)], env=env,
                          capture_output=True, text=True, check=False, timeout=900,
                          cwd=Path(__file__).parent.parent.parent)
    if done.returncode != 0:
        raise RuntimeError(f"modelmanager_snapshot failed: {done.stderr.strip()[-500:]}")
    raw = json.loads(done.stdout.strip().splitlines()[-1])
    return Snapshot(float(raw["seconds"]), int(raw["files"]), int(raw["bytes"]))


def client_snapshot(env: Env, emit: Emit) -> None:
    repo = env.workdir / "client-repo"
    shutil.rmtree(repo, ignore_errors=True)
    total = make_repo(repo, env.sizes)
    count = env.sizes.snapshot_files
    runs = max(2, env.sizes.runs)
    results: dict[str, list[Snapshot]] = {}
    with contextlib.ExitStack() as stack:
        stack.callback(shutil.rmtree, repo, True)
        hub = stack.enter_context(HubProcess(repo, env.workdir))
        proxy = stack.enter_context(env.proxy(ProxyOptions(extra=("--hf-endpoint", hub.endpoint)), "client-snapshot"))
        warm_tier = Path(tempfile.mkdtemp(prefix="node-tier-", dir=env.workdir))
        stack.callback(shutil.rmtree, warm_tier, True)

        def timed(label: str, run: Callable[[Path], Snapshot]) -> None:
            out = env.workdir / "client-out"
            shutil.rmtree(out, ignore_errors=True)
            try:
                got = run(out)
                if got.files != count or not same_tree(repo, out):
                    raise RuntimeError(f"client-snapshot {label}: {got.files} of {count} files, or different bytes")
                results.setdefault(label, []).append(got)
            finally:
                shutil.rmtree(out, ignore_errors=True)

        def cold_tier(out: Path) -> Snapshot:
            with tempfile.TemporaryDirectory(prefix="node-tier-", dir=env.workdir) as tier:
                return _mm_snapshot(proxy.base, hub.repo_id, out, env.workdir, Path(tier))

        snapshot(proxy.base, hub.repo_id, env.workdir / "client-warmup", env.workdir)  # the proxy is warm after
        shutil.rmtree(env.workdir / "client-warmup", ignore_errors=True)
        _mm_snapshot(proxy.base, hub.repo_id, env.workdir / "client-warmup", env.workdir, warm_tier)
        shutil.rmtree(env.workdir / "client-warmup", ignore_errors=True)
        hf = "huggingface_hub snapshot_download through the proxy (reference)"
        for _ in range(runs):  # interleaved, so a disturbance hits every variant alike
            timed(hf, lambda out: snapshot(proxy.base, hub.repo_id, out, env.workdir))
            timed("modelmanager_snapshot, empty node tier", cold_tier)
            timed("modelmanager_snapshot, node tier already holding the files",
                  lambda out: _mm_snapshot(proxy.base, hub.repo_id, out, env.workdir, warm_tier))
        env.check_log(proxy, "client-snapshot")
    reference = min(s.seconds for s in results[hf])
    variant = f"{count}-file repo ({env.sizes.snapshot_lfs} LFS shards, {mb(total)} MB), warm proxy"
    for label, got in results.items():
        best = min(s.seconds for s in got)
        emit(Row("client-snapshot", f"{variant}: {label}", f"{best:.2f} s ({mb(total / best)} MB/s)",
                 f"{best / reference:.2f} x snapshot_download's time",
                 f"runs {'/'.join(f'{s.seconds:.2f}' for s in got)} s, each into an empty local_dir and HF_HOME; "
                 f"all {count} files byte-exact"))
