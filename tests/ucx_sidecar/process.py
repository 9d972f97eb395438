"""A real UCX sidecar for tests: ``python -m ucx_sidecar`` in a subprocess on loopback, and the
UCX settings both ends use here (cma and tcp on ``lo``: no RDMA device on the test machine)."""

from __future__ import annotations

import contextlib
import importlib.util
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SECRET = "test-cluster-secret"
UCX_ENV = {"UCX_TLS": "cma,tcp,self", "UCX_NET_DEVICES": "lo", "UCX_WARN_UNUSED_ENV_VARS": "n"}
"""cma for the bytes, tcp for wire-up (NIXL needs both: it always asks for peer-failure handling)."""

HAS_UCXX = importlib.util.find_spec("ucxx") is not None
HAS_NIXL = any(importlib.util.find_spec(m) is not None for m in ("nixl_cu13", "nixl_cu12"))
needs_ucxx = pytest.mark.skipif(not HAS_UCXX, reason="ucxx is not installed (pip install 'modelmanager[ucx]')")
needs_nixl = pytest.mark.skipif(not HAS_NIXL, reason="NIXL is not installed (pip install --no-deps nixl-cu13)")


def engine_param(engine: str) -> object:
    return pytest.param(engine, marks=needs_nixl if engine == "nixl" else needs_ucxx, id=engine)


ENGINES = [engine_param("ucxx"), engine_param("nixl")]


@dataclass
class Sidecar:
    process: subprocess.Popen[str]
    address: str

    def kill(self) -> None:
        """SIGKILL, and wait until it is gone (no clean shutdown, as in a crash)."""
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=30)


def set_ucx_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """This process's UCX settings (read when the client's receiver first starts UCX)."""
    for name, value in UCX_ENV.items():
        monkeypatch.setenv(name, value)


@contextlib.contextmanager
def sidecar(cache: Path, engines: str = "ucxx", secret: str = SECRET) -> Iterator[Sidecar]:
    log = (cache.parent / f"sidecar-{os.urandom(4).hex()}.log").open("w")
    env = {**os.environ, **UCX_ENV, "PYTHONPATH": f"{ROOT}{os.pathsep}{ROOT / 'client'}"}
    process = subprocess.Popen([sys.executable, "-m", "ucx_sidecar", "--cache", str(cache), "--listen",
                                "127.0.0.1:0", "--cluster-secret", secret, "--engines", engines],
                               stdout=subprocess.PIPE, stderr=log, text=True, env=env)
    try:
        assert process.stdout is not None
        line = "-"
        while line and not line.startswith("listening on "):  # NIXL logs to stdout first
            line = process.stdout.readline()  # blocks until it listens (or exits)
        assert line, f"sidecar did not start: rc={process.wait()}"
        yield Sidecar(process, line.split()[2])
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if process.stdout is not None:
            process.stdout.close()
        log.close()
