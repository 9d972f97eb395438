"""Loading a safetensors file with the client library, measured against ``safetensors.torch.load_file``
of a local copy: over HTTP from a warm proxy (several connection counts) and by path hand-off from
the proxy's cache volume. Shared by the ``client-load`` scenario (CPU, 2-core VM) and
``bench/gpu_client.py`` (CUDA, on a GPU node).
"""

from __future__ import annotations

import contextlib
import gc
import json
import os
import struct
import time
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

TENSOR_BYTES = 64 << 20


def make_safetensors(path: Path, size: int) -> None:
    """A safetensors file of about ``size`` bytes: int32 tensors of random bytes (64 MiB each, the
    last one smaller). Bytes come from one random block, each tensor's first 8 bytes made unique."""
    block = os.urandom(min(TENSOR_BYTES, max(size, 4)) // 4 * 4)
    lengths = [TENSOR_BYTES] * (size // TENSOR_BYTES) + ([size % TENSOR_BYTES // 4 * 4] if size % TENSOR_BYTES else [])
    lengths = [n for n in lengths if n] or [4]
    header: dict[str, object] = {"__metadata__": {"format": "pt"}}
    offset = 0
    for i, n in enumerate(lengths):
        header[f"layer.{i:04d}.weight"] = {"dtype": "I32", "shape": [n // 4], "data_offsets": [offset, offset + n]}
        offset += n
    raw = json.dumps(header).encode()
    raw += b" " * (-len(raw) % 8)
    with open(path, "wb") as out:
        out.write(struct.pack("<Q", len(raw)) + raw)
        for i, n in enumerate(lengths):
            out.write(struct.pack("<Q", i) + block[8:n] if n >= 8 else block[:n])


def warm(url: str) -> None:
    """GET ``url`` once (the proxy fills its cache), discarding the body."""
    with urllib.request.urlopen(url, timeout=900) as response:
        while response.read(16 << 20):
            pass


@contextlib.contextmanager
def environ(**values: str) -> Iterator[None]:
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


@dataclass
class Result:
    label: str
    seconds: list[float]
    size: int
    note: str = ""
    ok: bool = True

    @property
    def best(self) -> float:
        return min(self.seconds)

    def gbps(self) -> float:
        return self.size / self.best / 1e9


def _timed(load: Callable[[], object], device: str) -> tuple[float, object]:
    import torch

    started = time.perf_counter()
    got = load()
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    return time.perf_counter() - started, got


def _same(got: object, want: dict[str, object]) -> bool:
    import torch

    assert isinstance(got, dict)
    return got.keys() == want.keys() and all(
        isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor) and torch.equal(a, b)
        for a, b in ((got[k], want[k]) for k in want))


def _release(device: str) -> None:
    gc.collect()
    if device.startswith("cuda"):
        import torch

        torch.cuda.empty_cache()


def measure(local: Path, url: str, proxy: str, volume: Path, node_tier: Path, device: str,
            connections: Sequence[int], runs: int, deadline: float | None = None) -> list[Result]:
    """Every variant ``runs`` times (the reference first); each result checked against it once.
    Past ``deadline`` (``time.monotonic()``) the remaining variants are reported as skipped."""
    from safetensors.torch import load_file

    from modelmanager_client import DownloadInfo, load_safetensors

    size = local.stat().st_size
    info = DownloadInfo(url, provider="HTTP", host=proxy)
    results: list[Result] = []
    want: dict[str, object] = {}

    def reference() -> dict[str, object]:
        loaded = load_file(str(local), device=device)
        if device != "cpu":
            return dict(loaded)
        # On the CPU load_file returns tensors backed by an mmap of the file: nothing is read until
        # used. The fair reference copies the bytes into the process's memory, as load_safetensors does.
        return {k: v.clone() for k, v in loaded.items()}

    seconds = []
    for _ in range(runs):
        want = {}
        _release(device)
        took, got = _timed(reference, device)
        seconds.append(took)
        assert isinstance(got, dict)
        want = got
    label = ("safetensors.torch.load_file, local file, tensors cloned into memory (reference)" if device == "cpu"
             else "safetensors.torch.load_file, local file (reference)")
    results.append(Result(label, seconds, size))
    if device == "cpu":
        lazy = [_timed(lambda: load_file(str(local)), device)[0] for _ in range(runs)]
        results.append(Result("safetensors.torch.load_file, local file, as returned (mmap-backed: no byte read yet)",
                              lazy, size))

    def variant(label: str, load: Callable[[], object], note: str = "", first: str = "") -> None:
        seconds, ok = [], True
        if deadline is not None and time.monotonic() > deadline:
            results.append(Result(label, [float("inf")], size, "skipped: the run's time limit was reached", False))
            return
        try:
            for i in range(runs + (1 if first else 0)):
                _release(device)
                took, got = _timed(load, device)
                if i == 0:
                    ok = _same(got, want)
                del got
                if first and i == 0:
                    note = f"{first} {took:.2f} s; {note}"
                    continue
                seconds.append(took)
        except Exception as exc:  # a failed variant is a row of the report, not the end of the run
            seconds, ok, note = [float("inf")], False, f"failed: {exc!r}"[:300]
        results.append(Result(label, seconds, size, note, ok))
        print(f"  {label}: best {min(seconds):.2f} s{'' if ok else ' NOT BYTE-EXACT OR FAILED'}", flush=True)

    with environ(MODELMANAGER_CLIENT_CACHE=str(node_tier), MODELMANAGER_CACHE_MOUNT=""):
        variant("load_safetensors, local file", lambda: load_safetensors(local, device=device))
        def over_http(n: int) -> Callable[[], object]:
            return lambda: load_safetensors(info, device=device, connections_per_file=n)

        for n in connections:
            variant(f"load_safetensors over HTTP from the warm proxy, {n} connection{'s' if n > 1 else ''}",
                    over_http(n))
    with environ(MODELMANAGER_CLIENT_CACHE=str(node_tier), MODELMANAGER_CACHE_MOUNT=str(volume)):
        n = max(connections)
        variant(f"load_safetensors by path hand-off (proxy's blob on its volume), {n} threads",
                lambda: load_safetensors(info, device=device, connections_per_file=n),
                "blake3 verification remembered per inode", first="first load incl. blake3 verification:")
    return results


def table(results: list[Result], device: str, machine: str) -> str:
    reference = results[0].best
    lines = [f"`load_safetensors(device=\"{device}\")` on {machine}; best of {len(results[0].seconds)} runs, "
             f"{results[0].size / 1e9:.2f} GB file in the page cache, proxy warm.", "",
             "| variant | best | GB/s | vs load_file | byte-exact | notes |", "|---|---|---|---|---|---|"]
    for r in results:
        exact = "yes" if r.ok else "NO" if r.best < float("inf") else "n/a"
        runs = "/".join(f"{s:.2f}" for s in r.seconds)
        lines.append(f"| {r.label} | {r.best:.2f} s | {r.gbps():.2f} | {reference / r.best:.2f}x | {exact} | "
                     f"runs {runs} s. {r.note} |")
    return "\n".join(lines) + "\n"
