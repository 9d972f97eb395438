"""Azurite, Microsoft's Azure Storage emulator (npm, installed by ``make azurite`` under .azurite/):
its blob service on a loopback port, its data in a temporary folder. Tests set blobs up with
Microsoft's own azure-storage-blob."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from pathlib import Path

ACCOUNT = "devstoreaccount1"
KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
"""Azurite's well-known development account and key (published in its documentation)."""
ROOT = Path(__file__).resolve().parents[2]


def binary() -> Path | None:
    local = ROOT / ".azurite" / "node_modules" / ".bin" / "azurite-blob"
    if local.exists():
        return local
    found = shutil.which("azurite-blob")
    return Path(found) if found else None


class Azurite:
    def __init__(self, data_dir: Path, port: int) -> None:
        self.data_dir = data_dir
        self.port = port
        self.url = f"http://127.0.0.1:{port}/{ACCOUNT}"
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def connection_string(self) -> str:
        return (f"DefaultEndpointsProtocol=http;AccountName={ACCOUNT};AccountKey={KEY};"
                f"BlobEndpoint={self.url};")

    def __enter__(self) -> Azurite:
        path = binary()
        assert path is not None
        self._process = subprocess.Popen(
            [str(path), "--blobHost", "127.0.0.1", "--blobPort", str(self.port), "--location", str(self.data_dir),
             "--silent", "--skipApiVersionCheck", "--disableProductStyleUrl"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 60
        while True:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    return self
            except OSError:
                if time.monotonic() > deadline or self._process.poll() is not None:
                    raise RuntimeError("Azurite did not start") from None
                time.sleep(0.1)

    def __exit__(self, *exc: object) -> None:
        if self._process is not None:
            self._process.terminate()
            self._process.wait(timeout=30)
