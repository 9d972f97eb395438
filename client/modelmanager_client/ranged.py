"""Byte ranges read straight into caller memory, from the proxy over HTTP or from a file, by many
threads at once.

Reads are blocking ``readinto`` / ``preadv`` calls, which release the GIL: one process moves bytes
at memory speed with a few threads, where one asyncio loop tops out near 1.5 GB/s. Each thread keeps
its own keep-alive connection. A dropped connection is resumed from the first missing byte.
"""

from __future__ import annotations

import http.client
import logging
import os
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait
from typing import Protocol

from modelmanager_client.errors import ClientError, IntegrityError, ProxyUnavailable
from modelmanager_client.remote import NETWORK_ERRORS, send
from modelmanager_client.routes import Route

log = logging.getLogger(__name__)

CHUNK = 16 << 20
"""Bytes per ranged request (and per staging buffer)."""
RETRIES = 5


class RangeSource(Protocol):
    """Something whose bytes ``[offset, offset + len(view))`` can be read into ``view``, from any thread."""

    size: int

    def read_into(self, offset: int, view: memoryview) -> None: ...

    def close(self) -> None: ...


class FileRanges:
    """A local file (the proxy's blob through the shared volume, or the node tier)."""

    def __init__(self, path: str | os.PathLike[str], size: int) -> None:
        self.fd = os.open(path, os.O_RDONLY)
        self.size = size

    def read_into(self, offset: int, view: memoryview) -> None:
        done = 0
        while done < len(view):
            n = os.preadv(self.fd, [view[done:]], offset + done)
            if n == 0:
                raise IntegrityError(f"file ended at byte {offset + done} of {self.size}")
            done += n

    def close(self) -> None:
        os.close(self.fd)


class HttpRanges:
    """A file on the proxy, read with ``Range`` requests; one connection per thread."""

    def __init__(self, route: Route, size: int, on_bytes: Callable[[int], None] | None = None) -> None:
        self.route = route
        self.size = size
        self.on_bytes = on_bytes
        self._local = threading.local()
        self._conns: list[http.client.HTTPConnection] = []
        self._lock = threading.Lock()

    def _conn(self) -> http.client.HTTPConnection:
        conn: http.client.HTTPConnection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = self.route.endpoint.connect()
            self._local.conn = conn
            with self._lock:
                self._conns.append(conn)
        return conn

    def _drop(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None

    def read_into(self, offset: int, view: memoryview) -> None:
        done, failures = 0, 0
        while done < len(view):
            try:
                for n in self._read_range(offset + done, view[done:]):
                    done += n
            except (*NETWORK_ERRORS, ProxyUnavailable) as exc:
                self._drop()
                failures += 1
                if failures > RETRIES:
                    raise ProxyUnavailable(f"GET {self.route.target} bytes {offset + done}-: {exc}") from exc
                log.info("resuming a ranged read", extra={"offset": offset + done, "error": str(exc)})
                time.sleep(min(2.0, 0.05 * 2**failures))

    def _read_range(self, offset: int, view: memoryview) -> Iterator[int]:
        """Read ``view`` with one request, yielding each read's byte count (so a drop loses nothing)."""
        headers = self.route.headers("GET")
        headers["Range"] = f"bytes={offset}-{offset + len(view) - 1}"
        response = send(self._conn(), "GET", self.route.target, headers)
        if response.status != 206 and not (response.status == 200 and offset == 0 and len(view) == self.size):
            response.read()
            raise ClientError(f"GET {self.route.target}: {response.status} to a Range request")
        got = 0
        while got < len(view):
            n = response.readinto(view[got:])
            if n == 0:
                raise http.client.IncompleteRead(b"", len(view) - got)
            got += n
            if self.on_bytes is not None:
                self.on_bytes(n)
            yield n
        if response.length:  # the server sent more than was asked: this connection cannot be reused
            self._drop()

    def close(self) -> None:
        with self._lock:
            for conn in self._conns:
                conn.close()
            self._conns.clear()


def chunks(size: int, chunk: int = CHUNK) -> list[tuple[int, int]]:
    """``[(offset, length), ...]`` covering ``[0, size)``."""
    return [(off, min(chunk, size - off)) for off in range(0, size, chunk)]


def fan_out(work: Callable[[int, int], None], size: int, workers: int, chunk: int = CHUNK) -> None:
    """Run ``work(offset, length)`` over every chunk of ``[0, size)`` on ``workers`` threads; the
    first error cancels what has not started and is raised."""
    parts = chunks(size, chunk)
    if workers <= 1 or len(parts) <= 1:
        for off, n in parts:
            work(off, n)
        return
    with ThreadPoolExecutor(min(workers, len(parts)), thread_name_prefix="mm-range") as pool:
        futures: list[Future[None]] = [pool.submit(work, off, n) for off, n in parts]
        done, _ = wait(futures, return_when=FIRST_EXCEPTION)
        for future in futures:
            future.cancel()
        for future in done:
            future.result()  # raises the first error
        for future in futures:
            if not future.cancelled():
                future.result()


def read_all(source: RangeSource, into: memoryview, workers: int, chunk: int = CHUNK) -> None:
    """Fill ``into`` (``source.size`` bytes) with parallel ranges."""
    fan_out(lambda off, n: source.read_into(off, into[off:off + n]), source.size, workers, chunk)
