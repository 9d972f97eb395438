"""Real parts for cluster tests: a private redis-server, and ``modelmanager serve`` pods.

Without the redis-server binary these tests skip, except under CI (``CI`` set), where they fail.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import socket
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import aiohttp
import pytest
from yarl import URL

from proxy.credentials import ADMIN_TOKEN, read_secret
from tests.fakes.fake_http import FakeUpstream

BIN = Path(sys.executable).parent / "modelmanager"
REDIS = shutil.which("redis-server") or "/usr/bin/redis-server"
STARTUP = 20.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def need_redis() -> None:
    if not os.path.exists(REDIS):
        message = f"redis-server not found at {REDIS}"
        if os.environ.get("CI"):
            pytest.fail(message + " (CI is set: cluster tests must run)")
        pytest.skip(message)


class Lines:
    """Drains a child's output line by line; ``wait_for`` waits until a line contains a text."""

    def __init__(self, stream: asyncio.StreamReader) -> None:
        self.lines: list[str] = []
        self._changed = asyncio.Event()
        self._task = asyncio.create_task(self._drain(stream))

    async def _drain(self, stream: asyncio.StreamReader) -> None:
        while line := await stream.readline():
            self.lines.append(line.decode(errors="replace").rstrip())
            self._changed.set()
        self._changed.set()

    async def wait_for(self, text: str, proc: asyncio.subprocess.Process) -> None:
        async with asyncio.timeout(STARTUP):
            seen = 0
            while True:
                if any(text in line for line in self.lines[seen:]):
                    return
                seen = len(self.lines)
                if proc.returncode is not None or self._task.done():
                    raise AssertionError(f"process ended before {text!r}:\n" + "\n".join(self.lines[-30:]))
                self._changed.clear()
                await self._changed.wait()

    def tail(self, n: int = 40) -> str:
        return "\n".join(self.lines[-n:])


class RedisServer:
    def __init__(self, workdir: Path) -> None:
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.workdir = workdir
        self.proc: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        self.proc = await asyncio.create_subprocess_exec(
            REDIS, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
            "--dir", str(self.workdir), stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
        assert self.proc.stdout is not None
        await Lines(self.proc.stdout).wait_for("Ready to accept connections", self.proc)

    async def kill(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            self.proc.kill()
            await self.proc.wait()

    async def command(self, *args: str) -> str:
        """One command through redis-cli-free RESP over a socket (FLUSHALL, PTTL, ...)."""
        import redis.asyncio as aioredis

        client = aioredis.Redis.from_url(self.url, decode_responses=True)
        try:
            return str(await client.execute_command(*args))  # type: ignore[no-untyped-call]
        finally:
            await client.aclose()


@pytest.fixture
async def redis_server(tmp_path: Path) -> AsyncIterator[RedisServer]:
    need_redis()
    server = RedisServer(tmp_path)
    await server.start()
    yield server
    await server.kill()


class Pod:
    def __init__(self, name: str, cache: Path, redis_url: str, upstream_host: str, extra: tuple[str, ...]) -> None:
        self.name = name
        self.cache = cache
        self.port = free_port()
        self.url = URL(f"http://127.0.0.1:{self.port}")
        self.argv = [str(BIN), "serve", "--port", str(self.port), "--cache-dir", str(cache), "--node-id", name,
                     "--advertise-url", str(self.url), "--redis-url", redis_url, "--http-allow", upstream_host,
                     "--log-level", "info", "--lease-ttl", "1.5", *extra]
        self.proc: asyncio.subprocess.Process | None = None
        self.output: Lines | None = None

    async def start(self) -> None:
        self.proc = await asyncio.create_subprocess_exec(*self.argv, stdout=asyncio.subprocess.DEVNULL,
                                                         stderr=asyncio.subprocess.PIPE)
        assert self.proc.stderr is not None
        self.output = Lines(self.proc.stderr)
        await self.output.wait_for('"listening"', self.proc)

    def fetch_url(self, upstream_url: URL | str) -> URL:
        return (self.url / "v1" / "fetch").with_query(url=str(upstream_url))

    @property
    def admin(self) -> dict[str, str]:
        """The Authorization header of the admin token the pods generated on their shared volume."""
        token = read_secret(self.cache, ADMIN_TOKEN)
        assert token is not None, "a pod that started has generated the admin token"
        return {"Authorization": f"Bearer {token}"}

    async def signal(self, sig: int) -> int:
        assert self.proc is not None
        if self.proc.returncode is None:
            self.proc.send_signal(sig)
        return await self.proc.wait()

    async def metric(self, session: aiohttp.ClientSession, name: str, labels: str = "") -> float:
        async with session.get(self.url / "metrics") as r:
            text = await r.text()
        wanted = f"{name}{{{labels}}}" if labels else name
        for line in text.splitlines():
            if line.startswith(wanted + " "):
                return float(line.split()[-1])
        return 0.0

    async def readyz(self, session: aiohttp.ClientSession) -> tuple[int, dict[str, object]]:
        async with session.get(self.url / "readyz") as r:
            return r.status, await r.json()


PodFactory = Callable[..., Awaitable[list[Pod]]]


@pytest.fixture
async def start_pods(tmp_path: Path, redis_server: RedisServer,
                     upstream: tuple[FakeUpstream, URL]) -> AsyncIterator[PodFactory]:
    """Start N pods on one shared cache dir and one Redis; all are stopped with the test."""
    pods: list[Pod] = []
    _, base = upstream
    host = f"{base.host}:{base.port}"

    async def start(n: int = 3, extra: tuple[str, ...] = ()) -> list[Pod]:
        started = [Pod(f"pod-{i}", tmp_path / "cache", redis_server.url, host, extra) for i in range(n)]
        pods.extend(started)
        await asyncio.gather(*(p.start() for p in started))
        return started

    yield start
    for pod in pods:  # shown by pytest when the test failed (captured output)
        if pod.output is not None:
            print(f"--- {pod.name} (last lines of its log) ---\n{pod.output.tail(60)}")
        if pod.proc is not None and pod.proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                pod.proc.send_signal(signal.SIGKILL)
            await pod.proc.wait()


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0), auto_decompress=False,
                                     timeout=aiohttp.ClientTimeout(total=120)) as s:
        yield s
