"""The repository verbs against a real KServe v2 server, MLServer (its own venv, ``make mlserver``):
a model laid out by ``sync`` from the Hub emulator through the proxy is listed, loaded and
unloaded over HTTP and gRPC with tritonclient, and a failing load shows MLServer's message."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import urllib.request
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.client.conftest import host
from tests.client.triton.conftest import triton_cli, until
from tests.conftest import Proxy
from tests.fakes.fake_hub import FakeHub

MLSERVER = Path(__file__).resolve().parents[3] / ".venv-mlserver" / "bin" / "mlserver"
pytestmark = pytest.mark.skipif(not MLSERVER.exists(), reason="MLServer's venv is missing: run `make mlserver`")

SETTINGS = b'{"name": "echo", "implementation": "runtime.Weights", "parameters": {"version": "1"}}'
RUNTIME = b'''from pathlib import Path

from mlserver import MLModel


class Weights(MLModel):
    async def load(self) -> bool:
        data = (Path(__file__).parent / "model.bin").read_bytes()
        if not data:
            raise ValueError("empty model file")
        return True
'''


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class MLServer:
    http_url: str
    grpc_url: str
    repository: Path


def answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/v2/health/ready", timeout=1) as response:
            return bool(response.status == 200)
    except OSError:
        return False


@pytest.fixture
async def mlserver(tmp_path: Path) -> AsyncIterator[MLServer]:
    repository = tmp_path / "repo"
    repository.mkdir()
    http_port, grpc_port, metrics_port = free_port(), free_port(), free_port()
    env = {**os.environ, "MLSERVER_LOAD_MODELS_AT_STARTUP": "false", "MLSERVER_PARALLEL_WORKERS": "0",
           "MLSERVER_HTTP_PORT": str(http_port), "MLSERVER_GRPC_PORT": str(grpc_port),
           "MLSERVER_METRICS_PORT": str(metrics_port), "MLSERVER_HOST": "127.0.0.1"}
    log = (tmp_path / "mlserver.log").open("wb")
    proc = await asyncio.create_subprocess_exec(str(MLSERVER), "start", str(repository), env=env, cwd=tmp_path,
                                                stdout=log, stderr=subprocess.STDOUT)
    server = MLServer(f"http://127.0.0.1:{http_port}", f"grpc://127.0.0.1:{grpc_port}", repository)
    try:
        await until(lambda: proc.returncode is not None or answers(server.http_url))
        assert proc.returncode is None, (tmp_path / "mlserver.log").read_text()[-3000:]
        yield server
    finally:
        proc.terminate()
        await asyncio.wait_for(proc.wait(), 30)
        log.close()


async def test_index_load_unload_against_mlserver(hf_proxy: Callable[..., Awaitable[Proxy]], hub: FakeHub,
                                                  mlserver: MLServer, tmp_path: Path) -> None:
    hub.create("org/echo").commit({"model-settings.json": SETTINGS, "runtime.py": RUNTIME, "model.bin": b"w" * 4096})
    proxy = await hf_proxy()
    models = tmp_path / "models.toml"
    models.write_text('[models.echo]\nsource = "hf://org/echo"\n')
    synced = await triton_cli("--models", str(models), "--repository", str(mlserver.repository),
                              "--host", host(proxy), "sync")
    assert synced.code == 0, synced.err
    for url in (mlserver.http_url, mlserver.grpc_url):
        status = await triton_cli("--triton-url", url, "status")
        assert status.code == 0, status.err
        assert "echo\t1\tUNAVAILABLE" in status.out
        loaded = await triton_cli("--triton-url", url, "load", "echo")
        assert loaded.code == 0, loaded.err
        status = await triton_cli("--triton-url", url, "status")
        assert "echo\t1\tREADY" in status.out
        unloaded = await triton_cli("--triton-url", url, "unload", "echo")
        assert unloaded.code == 0, unloaded.err
        status = await triton_cli("--triton-url", url, "status")
        assert "echo\t1\tUNAVAILABLE" in status.out


async def test_a_failing_load_shows_mlservers_message(mlserver: MLServer) -> None:
    folder = mlserver.repository / "echo" / "1"
    folder.mkdir(parents=True)
    (folder / "model-settings.json").write_bytes(SETTINGS)
    (folder / "runtime.py").write_bytes(RUNTIME)
    (folder / "model.bin").write_bytes(b"")
    for url in (mlserver.http_url, mlserver.grpc_url):
        ran = await triton_cli("--triton-url", url, "load", "echo")
        assert ran.code == 1
        assert "empty model file" in ran.err
        assert "Traceback" not in ran.err
        unknown = await triton_cli("--triton-url", url, "load", "nope")
        assert unknown.code == 1
        assert "Model nope not found" in unknown.err
