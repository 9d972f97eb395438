"""The real ``modelmanager`` command: serve in a subprocess, curl through it, ls and gc."""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from yarl import URL

from proxy.digest import Digest
from proxy.storage.layout import Layout
from tests.fakes.fake_http import FakeUpstream

BIN = Path(sys.executable).parent / "modelmanager"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def run(*args: str) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(*args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await proc.communicate()
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def wait_healthy(url: URL, proc: asyncio.subprocess.Process) -> None:
    """Wait for the server socket to answer (the process prints nothing when it is ready)."""
    deadline = time.monotonic() + 20
    async with aiohttp.ClientSession() as session:
        while time.monotonic() < deadline:
            if proc.returncode is not None:
                raise AssertionError(f"modelmanager serve exited with {proc.returncode}")
            try:
                async with session.get(url / "healthz") as r:
                    if r.status == 200:
                        return
            except aiohttp.ClientConnectionError:
                await asyncio.sleep(0.05)  # connection refused: the socket is not bound yet
    raise AssertionError("modelmanager serve did not become healthy")


@pytest.fixture
async def served(tmp_path: Path, upstream: tuple[FakeUpstream, URL]) -> AsyncIterator[tuple[URL, Path]]:
    cache = tmp_path / "cache"
    leftover = Layout(cache).tmp("e2e-node") / "fill-from-a-crash"
    leftover.parent.mkdir(parents=True)
    leftover.write_bytes(b"half-written")
    port = free_port()
    proc = await asyncio.create_subprocess_exec(
        str(BIN), "serve", "--port", str(port), "--cache-dir", str(cache), "--node-id", "e2e-node",
        "--http-allow", "127.0.0.1", "--log-level", "warning", stderr=asyncio.subprocess.PIPE)
    url = URL(f"http://127.0.0.1:{port}")
    try:
        await wait_healthy(url, proc)
        assert not leftover.exists(), "crash leftovers are removed at start-up"
        yield url, cache
    finally:
        proc.terminate()
        await proc.wait()


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl not installed")
async def test_curl_through_the_served_proxy_then_ls_and_gc(
        served: tuple[URL, Path], upstream: tuple[FakeUpstream, URL], tmp_path: Path) -> None:
    url, cache = served
    fake, base = upstream
    body = os.urandom(2_000_000)
    fake.add("/model.safetensors", body)
    fetch = str((url / "v1" / "fetch").with_query(url=str(base / "model.safetensors")))
    for name in ("a", "b"):
        code, _, err = await run("curl", "-sSf", "-o", str(tmp_path / name), fetch)
        assert code == 0, err
        assert (tmp_path / name).read_bytes() == body
    assert fake.count("/model.safetensors") == 1

    code, out, _ = await run(str(BIN), "ls", "--cache-dir", str(cache))
    assert code == 0
    key, size, digest, _age = out.strip().split("\t")
    assert (key, int(size), digest) == (f"http:{base / 'model.safetensors'}", len(body), str(Digest.of(body)))

    orphan = Layout(cache).blob(Digest.of(b"orphan"))
    orphan.parent.mkdir(parents=True, exist_ok=True)
    orphan.write_bytes(b"orphan")
    os.utime(orphan, (0, 0))
    code, out, _ = await run(str(BIN), "gc", "--cache-dir", str(cache))
    assert code == 0
    assert "removed 1 blobs (6 bytes)" in out
    assert not orphan.exists()
    assert Layout(cache).blob(Digest.of(body)).exists()

    code, _, err = await run("curl", "-sSf", "-o", "/dev/null", str((url / "v1" / "fetch").with_query(url="https://example.org/x")))
    assert code == 22, err  # -f: HTTP 403, the host is not allowed


async def test_invalid_settings_exit_2(tmp_path: Path) -> None:
    code, _, err = await run(str(BIN), "serve", "--port", "99999")
    assert code == 2
    assert "port" in err
