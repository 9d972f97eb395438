"""Triton fixtures: the Triton emulator over a real repository directory, on HTTP and gRPC, and a
helper that runs ``modelmanager-client triton`` in a thread (the proxy shares this event loop)."""

from __future__ import annotations

import asyncio
import contextlib
import io
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from modelmanager_client.triton.cli import main
from tests.conftest import ServerFactory
from tests.fakes.triton.core import TritonCore
from tests.fakes.triton.servers import http_app, start_grpc


@dataclass
class Emulator:
    core: TritonCore
    http_url: str
    grpc_url: str


@pytest.fixture
async def emulator(aiohttp_server: ServerFactory, tmp_path: Path) -> AsyncIterator[Emulator]:
    core = TritonCore(tmp_path / "repo")
    http = await aiohttp_server(http_app(core))
    grpc_server, port = await start_grpc(core)
    yield Emulator(core, f"http://127.0.0.1:{http.port}", f"grpc://127.0.0.1:{port}")
    await grpc_server.stop(None)


@dataclass
class Ran:
    code: int
    out: str
    err: str


async def triton_cli(*argv: str) -> Ran:
    """``modelmanager-client triton ARGV`` in a thread; its exit status, stdout and stderr."""
    def run() -> Ran:
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main(list(argv))
        return Ran(code, out.getvalue(), err.getvalue())

    return await asyncio.to_thread(run)


async def until(condition: Callable[[], bool]) -> None:
    """Wait (at most 30 s) for a condition another thread makes true, checked every 10 ms."""
    for _ in range(3000):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("condition not reached in 30 s")
