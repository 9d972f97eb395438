"""The UCX sidecar against HTTP and path hand-off, for one warm blob, in one run (``ucx`` scenario,
``bench/gpu_ucx.py``). Each variant is a child process (``bench.ucx_pull``) with its own UCX
environment, against its own sidecar process with the same environment.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from bench.process import ChildProcess, free_port

REPO = Path(__file__).resolve().parent.parent
SECRET = os.urandom(16).hex()


@dataclass(frozen=True)
class Variant:
    label: str
    transport: str
    """ucxx, nixl, http or handoff."""
    env: dict[str, str] = field(default_factory=dict)
    threads: int = 1


LOOPBACK = {"UCX_NET_DEVICES": "lo"}
HOST_VARIANTS = (
    Variant("path hand-off: preadv of the blob on the mounted volume, 1 thread", "handoff"),
    Variant("path hand-off: preadv of the blob on the mounted volume, 4 threads", "handoff", threads=4),
    Variant("HTTP from the warm proxy, 8 Range connections (the client's default)", "http", threads=8),
    Variant("sidecar ucxx, UCX_TLS=sm,self (tuned: worker address, no ep error handling, blocking progress)",
            "ucxx", {"UCX_TLS": "sm,self"}),
    Variant("sidecar ucxx, UCX_TLS=cma,tcp,self (tuned)", "ucxx", {"UCX_TLS": "cma,tcp,self", **LOOPBACK}),
    Variant("sidecar ucxx, UCX_TLS=tcp,self + put_zcopy (tuned; what crosses nodes without RDMA)", "ucxx",
            {"UCX_TLS": "tcp,self", **LOOPBACK}),
    Variant("sidecar ucxx, UCX_TLS=sm,self, progress thread (ucxx's default progress mode)", "ucxx",
            {"UCX_TLS": "sm,self", "MODELMANAGER_UCXX_PROGRESS": "thread"}),
    Variant("sidecar NIXL WRITE, UCX_TLS=cma,tcp,self", "nixl", {"UCX_TLS": "cma,tcp,self", **LOOPBACK}),
    Variant("sidecar NIXL WRITE, UCX_TLS=tcp,self", "nixl", {"UCX_TLS": "tcp,self", **LOOPBACK}),
)


@dataclass
class Outcome:
    variant: Variant
    seconds: list[float]
    size: int
    ok: bool
    note: str = ""

    @property
    def best(self) -> float:
        return min(self.seconds) if self.seconds else float("inf")

    def gbps(self) -> float:
        return self.size / self.best / 1e9 if self.seconds else 0.0


def _env(extra: dict[str, str]) -> dict[str, str]:
    paths = (str(REPO), str(REPO / "client"), os.environ.get("PYTHONPATH", ""))
    base = {k: v for k, v in os.environ.items() if not k.startswith("UCX_") and k != "MODELMANAGER_UCXX_PROGRESS"}
    return {**base, "PYTHONPATH": os.pathsep.join(p for p in paths if p), "UCX_WARN_UNUSED_ENV_VARS": "n", **extra}


def _wait_listening(port: int, child: ChildProcess, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not child.alive():
            raise RuntimeError(f"the sidecar exited: {child.log_tail()}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError("the sidecar did not listen in time")


def run_variant(variant: Variant, proxy: str, url: str, volume: Path, workdir: Path, runs: int,
                device: str = "cpu", timeout: float = 300.0) -> Outcome:
    env = _env(variant.env)
    argv = [sys.executable, "-m", "bench.ucx_pull", "--transport", variant.transport, "--proxy", proxy, "--url", url,
            "--volume", str(volume), "--threads", str(variant.threads), "--runs", str(runs), "--device", device]
    sidecar: ChildProcess | None = None
    try:
        if variant.transport in ("ucxx", "nixl"):
            port = free_port()
            sidecar = _start(variant, volume, port, workdir, env)
            argv += ["--sidecar", f"127.0.0.1:{port}", "--secret", SECRET]
        done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=timeout, cwd=REPO, check=False)
        if done.returncode != 0:
            return Outcome(variant, [], 0, False, f"failed: {done.stderr.strip()[-300:]}")
        raw = json.loads(done.stdout.strip().splitlines()[-1])
        return Outcome(variant, [float(s) for s in raw["seconds"]], int(raw["size"]), bool(raw["ok"]), raw["note"])
    except (RuntimeError, subprocess.TimeoutExpired) as exc:
        return Outcome(variant, [], 0, False, f"failed: {exc}"[:300])
    finally:
        if sidecar is not None:
            sidecar.stop()


def _start(variant: Variant, volume: Path, port: int, workdir: Path, env: dict[str, str]) -> ChildProcess:
    argv = [sys.executable, "-m", "ucx_sidecar", "--cache", str(volume), "--listen", f"127.0.0.1:{port}",
            "--cluster-secret", SECRET, "--engines", variant.transport]
    saved = dict(os.environ)
    os.environ.clear()
    os.environ.update(env)  # ChildProcess passes this process's environment on
    try:
        child = ChildProcess(f"sidecar-{variant.transport}", argv, workdir / f"sidecar-{port}.log", cwd=REPO)
    finally:
        os.environ.clear()
        os.environ.update(saved)
    _wait_listening(port, child)
    return child


def table(outcomes: list[Outcome], machine: str, destination: str) -> str:
    size = next((o.size for o in outcomes if o.size), 0)
    lines = [f"One warm {size / 1e9:.2f} GB blob into {destination} on {machine}; best of the runs; each "
             "variant a fresh client process (and sidecar).", "",
             "| variant | best | GB/s | byte-exact | runs |", "|---|---|---|---|---|"]
    for o in outcomes:
        runs = "/".join(f"{s:.3f}" for s in o.seconds) or o.note
        best = f"{o.best:.3f} s" if o.seconds else "-"
        lines.append(f"| {o.variant.label} | {best} | {o.gbps():.2f} | {'yes' if o.ok else 'NO'} | {runs} |")
    return "\n".join(lines) + "\n"
