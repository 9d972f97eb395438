"""Real S3 servers for tests: moto in server mode, SeaweedFS (``weed mini``), and a counting relay.

The relay sits between the proxy and the real server, forwards every request byte for byte (the
Host header included, so a signature-checking upstream still verifies it), records each request,
can hold object bodies after their first chunk until a gate opens, and can store other bytes than
it was sent (``tamper``), as a broken upstream path would.
"""

from __future__ import annotations

import asyncio
import os
import queue
import shutil
import socket
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
from aiohttp import web
from yarl import URL

ACCESS_KEY = "testkey"
SECRET_KEY = "testsecret"
HOP = {"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailers",
       "transfer-encoding", "upgrade"}


def free_port(below: int = 65536) -> int:
    while True:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port: int = s.getsockname()[1]
        if port < below:
            return port


class MotoServer:
    def __init__(self) -> None:
        from moto.server import ThreadedMotoServer

        self.port = free_port()
        self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=self.port, verbose=False)
        self.url = f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> MotoServer:
        self._server.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.stop()


@dataclass
class SeaweedServer:
    """``weed mini`` on loopback ports, telemetry off; it enforces SigV4 for ACCESS_KEY/SECRET_KEY."""

    data_dir: Path
    url: str = ""
    _process: subprocess.Popen[str] | None = None

    @staticmethod
    def binary() -> str | None:
        return shutil.which("weed", path=str(Path(sys.executable).parent)) or shutil.which("weed")

    def __enter__(self) -> SeaweedServer:
        binary = self.binary()
        assert binary is not None
        ports = {name: free_port(below=55000) for name in ("s3", "master", "volume", "filer", "admin")}
        env = dict(os.environ, AWS_ACCESS_KEY_ID=ACCESS_KEY, AWS_SECRET_ACCESS_KEY=SECRET_KEY)
        self._process = subprocess.Popen(
            [binary, "mini", f"-dir={self.data_dir}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
             "-master.telemetry=false", "-webdav=false", "-admin.ui=false", "-s3.port.iceberg=0",
             "-s3.port.lance=0", f"-s3.port={ports['s3']}", f"-master.port={ports['master']}",
             f"-volume.port={ports['volume']}", f"-filer.port={ports['filer']}", f"-admin.port={ports['admin']}"],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
        self.url = f"http://127.0.0.1:{ports['s3']}"
        self._wait_ready()
        return self

    def _wait_ready(self, timeout: float = 60) -> None:
        """Read its output (in a thread, blocking) until it prints the S3 endpoint line."""
        assert self._process is not None
        assert self._process.stdout is not None
        lines: queue.Queue[str | None] = queue.Queue()
        out = self._process.stdout

        def pump() -> None:
            for line in out:
                lines.put(line)
            lines.put(None)

        threading.Thread(target=pump, daemon=True).start()
        seen: list[str] = []
        while True:
            line = lines.get(timeout=timeout)
            if line is None:
                raise RuntimeError("weed mini exited:\n" + "".join(seen))
            seen.append(line)
            if "S3 Endpoint:" in line:
                return

    def __exit__(self, *exc: object) -> None:
        if self._process is not None:
            self._process.terminate()
            self._process.wait(timeout=30)


@dataclass(frozen=True)
class Relayed:
    method: str
    raw_path: str
    headers: dict[str, str]
    status: int


@dataclass
class CountingRelay:
    target: str
    requests: list[Relayed] = field(default_factory=list)
    gate: asyncio.Event | None = None
    """When set (not yet open), object GET bodies pause after their first chunk until it is set."""
    bodies_done: int = 0
    seen: Callable[[Relayed], None] | None = None
    """When set, called with each request as it is recorded (before its body is relayed)."""
    tamper: Callable[[bytes], bytes] | None = None
    """When set, object PUT bodies are replaced by what it returns (and their checksum headers dropped)."""
    _session: aiohttp.ClientSession | None = None

    def app(self) -> web.Application:
        app = web.Application(client_max_size=1 << 30)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        app.on_cleanup.append(self._close)
        return app

    async def _close(self, app: web.Application) -> None:
        if self._session is not None:
            await self._session.close()

    def count(self, method: str, path: str, query: str | None = None) -> int:
        """Requests for exactly ``path`` (raw, before the query), optionally with ``query`` in it."""
        return sum(1 for r in self.requests if r.method == method and r.raw_path.partition("?")[0] == path
                   and (query is None or query in r.raw_path.partition("?")[2]))

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        if self._session is None:
            self._session = aiohttp.ClientSession(auto_decompress=False, timeout=aiohttp.ClientTimeout(total=None))
        headers = {k: v for k, v in request.headers.items() if k.lower() not in HOP}
        body = await request.read()
        if self.tamper is not None and request.method == "PUT" and body:
            body = self.tamper(body)
            dropped = ("content-length", "content-md5")
            headers = {k: v for k, v in headers.items()
                       if k.lower() not in dropped and not k.lower().startswith("x-amz-checksum")}
        async with self._session.request(
                request.method, URL(self.target + request.raw_path, encoded=True), headers=headers,
                data=body or None, allow_redirects=False,
                skip_auto_headers=("User-Agent", "Accept", "Accept-Encoding", "Content-Type")) as upstream:
            self.requests.append(Relayed(request.method, request.raw_path, headers, upstream.status))
            if self.seen is not None:
                self.seen(self.requests[-1])
            out = {k: v for k, v in upstream.headers.items() if k.lower() not in HOP}
            response = web.StreamResponse(status=upstream.status, headers=out)
            await response.prepare(request)
            first = True
            async for chunk in upstream.content.iter_chunked(256 * 1024):
                await response.write(chunk)
                if first and self.gate is not None and request.method == "GET":
                    first = False
                    await self.gate.wait()
            await response.write_eof()
            self.bodies_done += 1
            return response


def iter_files(root: Path) -> Iterator[tuple[str, bytes]]:
    for path in sorted(root.rglob("*")):
        if path.is_file():
            yield str(path.relative_to(root)), path.read_bytes()
