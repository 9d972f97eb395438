"""``modelmanager serve`` as a subprocess: a free port, a fresh temp cache directory, quiet logs."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from bench.process import ChildProcess, free_port, wait_http_ok


@dataclass(frozen=True, slots=True)
class ProxyOptions:
    sendfile: bool = True
    event_loop: str = "asyncio"
    extra: tuple[str, ...] = ()
    """More ``modelmanager serve`` flags, passed as they are."""
    fd_limit: int | None = None
    """RLIMIT_NOFILE for the proxy process (None: inherited)."""
    workers: int = 1
    """``--workers``: worker processes behind the port (1: one process, as before)."""

    def flags(self) -> list[str]:
        workers = ["--workers", str(self.workers)] if self.workers != 1 else []
        return ["--sendfile" if self.sendfile else "--no-sendfile", "--event-loop", self.event_loop, *workers,
                *self.extra]

    def describe(self) -> str:
        return " ".join(self.flags())


ADMIN_TOKEN = "bench-admin-token"
"""The control API's token of every proxy the harness starts (its /v1/status needs one)."""

OTHER_BUILD = "BENCH_MODELMANAGER"
"""Environment variable naming another build's ``modelmanager`` script to benchmark instead of ours."""


def modelmanager_command() -> list[str]:
    """The ``modelmanager`` console script next to this interpreter (``python -m proxy`` if absent),
    or the one ``$BENCH_MODELMANAGER`` names."""
    if other := os.environ.get(OTHER_BUILD):
        return [other]
    script = Path(sys.executable).parent / "modelmanager"
    return [str(script)] if script.exists() else [sys.executable, "-m", "proxy"]


class ProxyProcess:
    """A running proxy. Use as a context manager: the process is stopped and the cache removed on exit."""

    def __init__(
        self,
        workdir: Path,
        options: ProxyOptions,
        name: str = "proxy",
        port: int | None = None,
        cache_dir: Path | None = None,
        command: list[str] | None = None,
    ) -> None:
        """``cache_dir``: a shared volume (kept at stop); by default a fresh one (removed at stop)."""
        self.options = options
        self.port = port or free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.own_cache = cache_dir is None
        self.cache_dir = cache_dir or Path(tempfile.mkdtemp(prefix="cache-", dir=workdir))
        self.command = command or modelmanager_command()
        """The ``modelmanager`` script run (another build's, for a before/after comparison)."""
        self.argv = [
            *self.command,
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--cache-dir",
            str(self.cache_dir),
            "--http-allow",
            "127.0.0.1",
            "--log-level",
            "warning",
            "--admin-token",
            ADMIN_TOKEN,
            *options.flags(),
        ]
        self.child = ChildProcess(name, self.argv, workdir / f"{name}-{self.port}.log", fd_limit=options.fd_limit)
        try:
            wait_http_ok(f"{self.base}/healthz", self.child)
            if options.workers != 1:
                self._wait_workers(options.workers or len(os.sched_getaffinity(0)))
        except BaseException:
            self.stop()
            raise

    def _wait_workers(self, count: int, timeout: float = 60.0) -> None:
        """Until ``/v1/status`` lists ``count`` workers (each announces itself before it listens)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            status = urllib.request.Request(f"{self.base}/v1/status", headers=self.admin_headers)
            with urllib.request.urlopen(status, timeout=5) as response:
                if len(json.loads(response.read())["nodes"]) >= count:
                    return
            time.sleep(0.1)
        raise TimeoutError(f"{count} workers did not come up within {timeout} s:\n{self.child.log_tail()}")

    @property
    def admin_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {ADMIN_TOKEN}"}

    @property
    def pid(self) -> int:
        return self.child.pid

    def pids(self) -> list[int]:
        """The proxy's processes: the supervisor and its workers with ``--workers``, else the one."""
        try:
            children = Path(f"/proc/{self.pid}/task/{self.pid}/children").read_text().split()
        except OSError:
            children = []
        return [self.pid, *(int(c) for c in children)]

    @property
    def exit_code(self) -> int | None:
        return self.child.popen.poll()

    def fetch_url(self, upstream_url: str) -> str:
        return f"{self.base}/v1/fetch?url={urllib.parse.quote(upstream_url, safe='')}"

    def entries(self) -> list[dict[str, object]]:
        """The cache index as ``modelmanager ls --json`` prints it (key, size, digest, ...)."""
        out = subprocess.run(
            [*self.command, "ls", "--json", "--cache-dir", str(self.cache_dir)],
            check=True,
            capture_output=True,
            text=True,
            timeout=60,
        ).stdout
        return [json.loads(line) for line in out.splitlines() if line.strip()]

    def log_text(self) -> str:
        try:
            return self.child.log.read_text(errors="replace")
        except OSError:
            return ""

    def stop(self) -> int | None:
        code = self.child.stop()
        if self.own_cache:
            shutil.rmtree(self.cache_dir, ignore_errors=True)
        return code

    def __enter__(self) -> ProxyProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
