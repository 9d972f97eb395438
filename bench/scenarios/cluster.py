"""cluster-herd: several proxy pods sharing one cache volume and one Redis, one herd spread over them.

A second row runs the same herd with each pod on its own attribute-caching FUSE view of the volume
(``bindfs -o attr_timeout=10,entry_timeout=10``, as NFS/EFS/FUSE CSI drivers behave), where
followers must stream from the leader's pod; it says it was skipped where bindfs or FUSE is missing.

Written against cluster mode's CLI (``serve --redis-url ... --node-id podN --advertise-url ...``
with a shared ``--cache-dir``); where ``serve`` rejects ``--redis-url`` the row says it was skipped.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from bench.clients import timed_many
from bench.files import read_through
from bench.process import ChildExited, free_port
from bench.proxy_proc import ProxyOptions, ProxyProcess
from bench.redis_proc import RedisProcess, find_redis
from bench.report import Row, mb
from bench.scenarios.env import CLUSTER_FILE, Emit, Env, size_label, skipped, verify_index

REJECTED = 2
"""``modelmanager serve``'s exit code for a configuration it refuses (``--redis-url`` before cluster mode)."""


def _pod(env: Env, redis: RedisProcess, cache_dir: Path, i: int) -> ProxyProcess:
    port = free_port()
    options = ProxyOptions(
        extra=("--redis-url", redis.url, "--node-id", f"pod{i}", "--advertise-url", f"http://127.0.0.1:{port}")
    )
    return ProxyProcess(env.workdir, options, f"pod{i}", port=port, cache_dir=cache_dir)


CACHING = "attr_timeout=10,entry_timeout=10"


def _views(stack: contextlib.ExitStack, shared: Path, n: int) -> list[Path] | str:
    """``n`` attribute-caching FUSE views of ``shared`` (unmounted when ``stack`` closes), or why not."""
    if shutil.which("bindfs") is None or not os.path.exists("/dev/fuse"):
        return "skipped: bindfs or /dev/fuse is missing (apt-get install bindfs)"
    views = []
    for i in range(n):
        view = shared.parent / f"{shared.name}-view{i}"
        view.mkdir()
        done = subprocess.run(["bindfs", "-o", CACHING, str(shared), str(view)], capture_output=True, text=True,
                              check=False, timeout=10)
        if done.returncode != 0:
            return f"skipped: bindfs could not mount: {done.stderr.strip()[:200]}"
        stack.callback(subprocess.run, ["fusermount", "-u", "-z", str(view)], capture_output=True, check=False)
        views.append(view)
    return views


def cluster_herd(env: Env, emit: Emit) -> None:
    _cluster_herd(env, emit, fuse=False)
    _cluster_herd(env, emit, fuse=True)


def _cluster_herd(env: Env, emit: Emit, *, fuse: bool) -> None:
    f = env.files[CLUSTER_FILE]
    read_through(f.path)
    sizes = env.sizes
    clients, pods_n, rate = sizes.cluster_clients, sizes.cluster_pods, sizes.herd_rate
    url = env.upstream.url(f.name, rate)
    variant = (
        f"{pods_n} pods + Redis, shared cache volume, {clients} clients on one cold "
        f"{size_label(f.size)} file, upstream throttled to {rate / 1e6:.0f} MB/s"
        + (f"; each pod on its own bindfs view ({CACHING})" if fuse else "")
    )
    binary = find_redis()
    if binary is None:
        emit(skipped("cluster-herd", variant, "skipped: redis-server is not installed"))
        return
    with contextlib.ExitStack() as stack:
        redis = stack.enter_context(RedisProcess(binary, env.workdir))
        cache_dir = Path(tempfile.mkdtemp(prefix="shared-cache-", dir=env.workdir))
        dirs = [cache_dir] * pods_n
        if fuse:
            views = _views(stack, cache_dir, pods_n)
            if isinstance(views, str):
                emit(skipped("cluster-herd", variant, views))
                return
            dirs = views
        pods: list[ProxyProcess] = []
        try:
            for i in range(pods_n):
                pods.append(stack.enter_context(_pod(env, redis, dirs[i], i)))
        except ChildExited as exc:
            if exc.code != REJECTED:
                raise
            last = exc.tail.strip().splitlines()[-1:] or ["(no output)"]
            emit(
                skipped(
                    "cluster-herd",
                    variant,
                    f"skipped: cluster mode unavailable (serve exited {exc.code}: {last[0][:200]})",
                )
            )
            return
        targets = [pods[i % pods_n].fetch_url(url) for i in range(clients)]
        before = env.upstream.counter(url)
        results, wall = timed_many(targets)
        after = env.upstream.counter(url)
        indexed = verify_index(pods[0], [f])
        for i, pod in enumerate(pods):
            env.check_log(pod, f"cluster-herd pod{i}")
    exact = sum(1 for r in results if r.error is None and r.status == 200 and r.blake3 == f.blake3)
    sent = after.bytes - before.bytes
    worst = max(r.max_gap for r in results)
    emit(
        Row(
            "cluster-herd",
            variant,
            f"upstream GETs {after.gets - before.gets}, upstream bytes {sent / f.size:.2f} x file; "
            f"byte-exact {exact}/{clients}; max stall {worst:.3f} s",
            f"{(sent / f.size) / 1.0:.2f} x the 1.00 target",
            f"last client done {wall:.2f} s; aggregate {mb(sum(r.size for r in results) / wall)} MB/s; "
            f"index digest ok {indexed}/1",
        )
    )
