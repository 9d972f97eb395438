"""``modelmanager build-worker`` as a real child process, for the artifact tests."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

from tests.cluster.conftest import Lines

ROOT = Path(__file__).resolve().parents[3]
RECIPE_MODULE = "tests.proxy.artifacts.gzip_recipe"


class Worker:
    def __init__(self, proc: asyncio.subprocess.Process, output: Lines) -> None:
        self.proc = proc
        self.output = output

    async def kill(self) -> None:
        if self.proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self.proc.send_signal(signal.SIGKILL)
        await self.proc.wait()


def child_env(extra_path: Path | None = None) -> dict[str, str]:
    paths = [str(ROOT)] + ([str(extra_path)] if extra_path else []) + [os.environ.get("PYTHONPATH", "")]
    return {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in paths if p)}


WorkerFactory = Callable[..., Awaitable[Worker]]


@contextlib.asynccontextmanager
async def worker_pool(tmp_path: Path) -> AsyncIterator[WorkerFactory]:
    """Start ``build-worker`` processes against a proxy URL; all are killed when the block ends."""
    started: list[Worker] = []

    async def start(proxy_url: str, token: str, name: str, *extra: str, module: bool = True,
                    env: dict[str, str] | None = None) -> Worker:
        argv = [sys.executable, "-m", "proxy", "build-worker", "--proxy", proxy_url, f"--admin-token={token}",
                "--name", name, "--workdir", str(tmp_path / f"work-{name}"), *extra]
        if module:
            argv += ["--recipe-module", RECIPE_MODULE]
        proc = await asyncio.create_subprocess_exec(*argv, cwd=ROOT, env=env or child_env(),
                                                    stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE)
        assert proc.stderr is not None
        worker = Worker(proc, Lines(proc.stderr))
        started.append(worker)
        await worker.output.wait_for("build worker ready", proc)
        return worker

    yield start
    for worker in started:
        await worker.kill()
