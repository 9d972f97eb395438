"""hf-snapshot: ``snapshot_download`` of a 50-file repo from the Hub emulator: direct, through a warm
proxy, through a warm olah."""

from __future__ import annotations

import contextlib
import filecmp
import os
import shutil
from pathlib import Path

from bench.hf_client import Snapshot, snapshot
from bench.hub import HubProcess
from bench.olah import OlahProcess
from bench.proxy_proc import ProxyOptions
from bench.report import Row, mb
from bench.scenarios.env import Emit, Env, Sizes, Unavailable, skipped


def make_repo(root: Path, sizes: Sizes) -> int:
    """A model repo: ``snapshot_lfs`` safetensors shards (LFS) and small text files (under the
    emulator's 1 KiB LFS threshold, so the Hub serves them itself). Returns the total size."""
    root.mkdir(parents=True)
    n = sizes.snapshot_lfs
    for i in range(n):
        (root / f"model-{i + 1:05d}-of-{n:05d}.safetensors").write_bytes(os.urandom(sizes.snapshot_lfs_size))
    for i in range(sizes.snapshot_files - n):
        folder = root / ("tokenizer" if i % 3 == 0 else "configs")
        folder.mkdir(exist_ok=True)
        (folder / f"part-{i:03d}.json").write_text('{"x": "' + os.urandom(200 + 7 * i % 600).hex()[:400] + '"}\n')
    return sum(p.stat().st_size for p in root.rglob("*") if p.is_file())


def same_tree(a: Path, b: Path) -> bool:
    names = sorted(p.relative_to(a).as_posix() for p in a.rglob("*") if p.is_file())
    return all(filecmp.cmp(a / n, b / n, shallow=False) for n in names)


def hf_snapshot(env: Env, emit: Emit) -> None:
    repo = env.workdir / "hf-repo"
    shutil.rmtree(repo, ignore_errors=True)
    total = make_repo(repo, env.sizes)
    count = env.sizes.snapshot_files
    variant = f"{count}-file repo ({env.sizes.snapshot_lfs} LFS shards, {mb(total)} MB)"
    runs = max(2, env.sizes.runs)
    with contextlib.ExitStack() as stack:
        hub = stack.enter_context(HubProcess(repo, env.workdir))
        stack.callback(shutil.rmtree, repo, True)

        def timed(endpoint: str, what: str) -> Snapshot:
            out = env.workdir / "hf-out"
            shutil.rmtree(out, ignore_errors=True)
            try:
                got = snapshot(endpoint, hub.repo_id, out, env.workdir)
                if got.files != count or not same_tree(repo, out):
                    raise RuntimeError(f"hf-snapshot {what}: {got.files} of {count} files, or different bytes")
                return got
            finally:
                shutil.rmtree(out, ignore_errors=True)

        def measure(endpoint: str, what: str, warm_first: bool) -> tuple[list[Snapshot], Snapshot | None, int, int]:
            cold = timed(endpoint, what) if warm_first else None
            before = hub.stats()
            got = [timed(endpoint, what) for _ in range(runs)]
            after = hub.stats()
            return got, cold, after["hub"] - before["hub"], after["cdn_bytes"] - before["cdn_bytes"]

        results: dict[str, tuple[list[Snapshot], Snapshot | None, int, int]] = {}
        results["direct from the Hub emulator (reference)"] = measure(hub.endpoint, "direct", False)
        proxy = stack.enter_context(env.proxy(ProxyOptions(extra=("--hf-endpoint", hub.endpoint)), "hf-snapshot"))
        results["proxy, warm"] = measure(proxy.base, "proxy", True)
        env.check_log(proxy, "hf-snapshot")
        try:
            olah = stack.enter_context(
                OlahProcess(env.olah_cli(), env.workdir, f"127.0.0.1:{hub.port}", f"127.0.0.1:{hub.cdn_port}")
            )
            results["olah, warm"] = measure(olah.endpoint, "olah", True)
        except Unavailable as exc:
            emit(skipped("hf-snapshot", f"{variant}, olah", str(exc)))

    def best(label: str) -> float:
        return min(s.seconds for s in results[label][0])

    direct = best("direct from the Hub emulator (reference)")
    olah_best = best("olah, warm") if "olah, warm" in results else None
    for label, (got, cold, hub_requests, cdn_bytes) in results.items():
        t = best(label)
        versus = f"{t / direct:.2f} x direct's time" + (f", {t / olah_best:.2f} x olah's" if olah_best else "")
        emit(
            Row(
                "hf-snapshot",
                f"{variant}, {label}",
                f"{t:.2f} s ({mb(total / t)} MB/s)",
                versus,
                f"runs {'/'.join(f'{s.seconds:.2f}' for s in got)} s, each into an empty HF_HOME; "
                + (f"the cold run before: {cold.seconds:.2f} s; " if cold else "")
                + f"upstream during the measured runs: {hub_requests} Hub requests, {mb(cdn_bytes)} MB from the "
                f"CDN; all {count} files byte-exact",
            )
        )
