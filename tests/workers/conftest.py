"""``modelmanager serve --workers N`` as a real process tree: the supervisor and its workers."""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import aiohttp
import pytest
from yarl import URL

from tests.cluster.conftest import BIN, STARTUP, Lines, RedisServer, redis_server
from tests.conftest import ADMIN, ADMIN_TOKEN
from tests.fakes.fake_http import FakeUpstream

NODE = "node-a"


class Log(Lines):
    async def wait_count(self, text: str, count: int, proc: asyncio.subprocess.Process) -> None:
        """Wait until ``count`` lines contain ``text``."""
        async with asyncio.timeout(STARTUP):
            while sum(text in line for line in self.lines) < count:
                if proc.returncode is not None or self._task.done():
                    raise AssertionError(f"process ended before {count} x {text!r}:\n" + self.tail())
                self._changed.clear()
                await self._changed.wait()


class Supervised:
    """A running ``serve --workers N``: its port (resolved from ``--port 0``), its log lines."""

    def __init__(self, cache: Path, upstream_host: str, workers: int, extra: tuple[str, ...]) -> None:
        self.argv = [str(BIN), "serve", "--port", "0", "--workers", str(workers), "--cache-dir", str(cache),
                     "--node-id", NODE, "--http-allow", upstream_host, "--log-level", "info",
                     "--admin-token", ADMIN_TOKEN, *extra]
        self.workers = workers
        self.proc: asyncio.subprocess.Process | None = None
        self.output: Log | None = None
        self.url = URL("http://127.0.0.1")

    async def start(self) -> None:
        self.proc = await asyncio.create_subprocess_exec(*self.argv, stdout=asyncio.subprocess.DEVNULL,
                                                         stderr=asyncio.subprocess.PIPE)
        assert self.proc.stderr is not None
        self.output = Log(self.proc.stderr)
        await self.output.wait_for('"listening"', self.proc)
        port = self.logged("listening")[-1]["port"]
        self.url = URL(f"http://127.0.0.1:{port}")

    def logged(self, message: str) -> list[dict[str, object]]:
        """The JSON log lines whose message is ``message``, oldest first."""
        assert self.output is not None
        found = []
        for line in self.output.lines:
            with contextlib.suppress(ValueError):
                record = json.loads(line)
                if isinstance(record, dict) and record.get("msg") == message:
                    found.append(record)
        return found

    def pid(self, worker: int) -> int:
        """The process id of worker ``worker`` as last (re)started."""
        return int(str([r for r in self.logged("worker started") if r["worker"] == worker][-1]["pid"]))

    async def wait_log(self, text: str, count: int = 1) -> None:
        """Wait until ``count`` log lines contain ``text``."""
        assert self.output is not None
        assert self.proc is not None
        await self.output.wait_count(text, count, self.proc)

    def fetch_url(self, upstream_url: URL | str) -> URL:
        return (self.url / "v1" / "fetch").with_query(url=str(upstream_url))

    async def stop(self) -> int:
        assert self.proc is not None
        if self.proc.returncode is None:
            self.proc.send_signal(signal.SIGTERM)
        return await self.proc.wait()


SupervisedFactory = Callable[..., Awaitable[Supervised]]
__all__ = ["redis_server"]  # the cluster tests' fixture: a private redis-server


@pytest.fixture(params=["node-local", "redis"])
def coordination(request: pytest.FixtureRequest) -> tuple[str, ...]:
    """How the workers share fills: the supervisor's node-local coordinator, or Redis (each worker
    a cluster member)."""
    if request.param == "node-local":
        return ()
    server: RedisServer = request.getfixturevalue("redis_server")
    return ("--redis-url", server.url)


@pytest.fixture
async def start_supervised(tmp_path: Path, upstream: tuple[FakeUpstream, URL]) -> AsyncIterator[SupervisedFactory]:
    started: list[Supervised] = []
    _, base = upstream

    async def start(workers: int = 2, extra: tuple[str, ...] = ()) -> Supervised:
        supervised = Supervised(tmp_path / "cache", f"{base.host}:{base.port}", workers, extra)
        started.append(supervised)
        await supervised.start()
        return supervised

    yield start
    for supervised in started:
        if supervised.proc is not None and supervised.proc.returncode is None:
            supervised.proc.send_signal(signal.SIGTERM)
            try:
                async with asyncio.timeout(20):
                    await supervised.proc.wait()
            except TimeoutError:
                supervised.proc.kill()
                await supervised.proc.wait()


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0, force_close=True), headers=ADMIN,
                                     auto_decompress=False, timeout=aiohttp.ClientTimeout(total=60)) as s:
        yield s
