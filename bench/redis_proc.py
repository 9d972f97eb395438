"""A private ``redis-server`` on a free loopback port (no persistence), for the cluster scenario."""

from __future__ import annotations

import shutil
import socket
import tempfile
import time
from pathlib import Path

from bench.process import ChildProcess, Server, free_port

BINARY = "/usr/bin/redis-server"


def find_redis() -> str | None:
    return shutil.which("redis-server") or (BINARY if Path(BINARY).exists() else None)


def _pong(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


class RedisProcess(Server):
    """``url`` is ``redis://127.0.0.1:PORT/0``; stopped (and its directory removed) on exit."""

    def __init__(self, binary: str, workdir: Path) -> None:
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.root = self.owned = Path(tempfile.mkdtemp(prefix="redis-", dir=workdir))
        argv = [
            binary,
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(self.root),
        ]
        self.child = ChildProcess("redis", argv, workdir / f"redis-{self.port}.log")
        deadline = time.monotonic() + 10
        while not _pong(self.port):
            if not self.child.alive() or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"redis-server did not start:\n{self.child.log_tail()}")
            time.sleep(0.05)
