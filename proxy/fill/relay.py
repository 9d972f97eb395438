"""The follower's side of cross-pod streaming: pull the leader's landed bytes into a local file.

A follower pod that tails the leader's temp file through its own mount of the shared volume
sees the bytes only as fast as that mount revalidates: NFS, EFS, Filestore and FUSE-based CSI
drivers cache attributes (the file's size) for seconds, so clients there would wait until the
commit. Instead, the follower asks the leader's pod (the advertise URL in the fill record) for
the bytes as they land (``proxy.fill.feed``), writes them into a temp file of its own
(``tmp/<node-id>/relay-*``) and points its local ``Fill`` at that file, so local readers tail it
as before. Nothing is hashed here: the leader verifies and commits on the shared volume, and
local readers get the final byte only after the ``done`` event, from the committed blob.

When the leader's pod cannot be reached, refuses (another token, not leading there, an old
version), or the stream breaks, the follower falls back to tailing the shared temp file for that
lease token (``tail``), as before; a new leader (new token) is tried again, resuming at the
bytes already received. The local file lives as long as the fill on this node (across turns of
leading and following) and is removed when it ends.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
from pathlib import Path

from aiohttp import ClientError, ClientResponse, ClientTimeout

from proxy.cluster.port import FillRecord, key_id
from proxy.errors import UpstreamUnavailable
from proxy.fill.context import FillContext
from proxy.fill.link import FILL_ROUTE, LeaderLink
from proxy.fill.receive import BUFFER, RECEIVE_THREADS, ThreadReceiver, Wanted, plain_socket, pwrite_all
from proxy.fill.state import Fill, FillState
from proxy.upstream import ResponseBody

log = logging.getLogger(__name__)

WORKER_TRIES = 64
"""Requests (each on a new connection) to reach the leading worker of a node with ``--workers``."""
_WORKER = re.compile(r"\.w[0-9]+$")


class RelayRefused(Exception):
    """The leader's pod did not (or no longer) stream the fill."""


def tail(fill: Fill, ctx: FillContext, record: FillRecord) -> None:
    """Point the fill at the leader's temp file on the shared volume, ``record.written`` bytes long."""
    assert record.meta is not None
    tmp = ctx.store.layout.fill_tmp(record.tmp) if record.tmp else None
    fill.streaming(record.meta, tmp, record.written)


class Relay:
    def __init__(self, fill: Fill, ctx: FillContext, link: LeaderLink) -> None:
        self.fill = fill
        self.ctx = ctx
        self.link = link
        self.path: Path | None = None
        self.fd = -1
        self.received = 0
        """Bytes [0, received) of the file are in ``path``."""
        self.token: int | None = None
        """The lease token being relayed now (or relayed to its end)."""
        self.refused: set[int] = set()
        """Tokens whose leader could not be streamed from: tail the shared file for those."""
        self.record: FillRecord | None = None
        self.task: asyncio.Task[None] | None = None

    def take(self, record: FillRecord) -> bool:
        """Stream the fill ``record`` describes from its leader (starting the pull unless it runs
        already). False: tail the shared temp file instead."""
        self.record = record
        if self.token == record.token:
            return True
        me = self.ctx.coordinator.node
        if (record.meta is None or record.token in self.refused or self.link.session is None
                or record.node.node_id == me.node_id or record.node.url == me.url):
            return False  # a sibling worker of this node (same URL) shares this kernel's view: tail it
        self.stop()
        if self.fd < 0:
            try:
                self._create()
            except OSError as exc:
                log.warning("cannot create the relay file; tailing the shared volume", extra={"error": repr(exc)})
                self.refused.add(record.token)
                return False
        self.token = record.token
        assert self.path is not None
        self.fill.streaming(record.meta, self.path, self.received)
        self.task = asyncio.create_task(self._pull(record), name=f"relay {self.fill.key}")
        return True

    def stop(self) -> None:
        """Stop pulling (this node leads now, or another leader took over); keep what was received."""
        if self.task is not None:
            self.task.cancel()
        self.token = None

    async def close(self) -> None:
        """The fill ended on this node: stop, and remove the local file (open readers keep theirs)."""
        self.stop()
        if self.task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self.task  # no write may be in flight when the descriptor closes
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1
        if self.path is not None:
            with contextlib.suppress(OSError):
                self.path.unlink()

    def _create(self) -> None:
        node_id = self.ctx.coordinator.node.node_id
        directory = self.link.directory or self.ctx.store.layout.tmp(node_id)
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / f"{relay_prefix(node_id)}{key_id(self.fill.key)[:16]}-{os.urandom(4).hex()}"
        self.fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
        self.path = path

    async def _pull(self, record: FillRecord) -> None:
        try:
            await self._receive(record)
        except Exception as exc:  # any failure here only means: tail the shared file instead
            expected = isinstance(exc, (ClientError, OSError, TimeoutError, RelayRefused))
            log.log(logging.INFO if expected else logging.WARNING,
                    "streaming from the leader's pod failed; tailing the shared volume",
                    extra={"key": self.fill.key, "leader": record.node.node_id, "offset": self.received,
                           "error": repr(exc)})
            self.refused.add(record.token)
            if self.token == record.token:
                self.token = None
                latest = self.record
                if latest is not None and latest.token == record.token and self.fill.state is FillState.STREAMING:
                    tail(self.fill, self.ctx, latest)

    async def _receive(self, record: FillRecord) -> None:
        fill, session = self.fill, self.link.session
        assert record.meta is not None
        if session is None:
            raise RelayRefused("no session")
        url = f"{record.node.url.rstrip('/')}{FILL_ROUTE.format(key_id=key_id(fill.key))}"
        query = {"token": str(record.token), "offset": str(self.received)}
        timeout = ClientTimeout(total=None, sock_connect=self.link.connect_timeout, sock_read=None)
        loop = asyncio.get_running_loop()
        headers = {"Authorization": f"Bearer {self.link.secret}"}
        # The workers of a node (``<node-id>.w<i>``) share its port: a request lands on any of them,
        # and only the leading one answers 200. Ask again on fresh connections to reach it.
        tries = WORKER_TRIES if _WORKER.search(record.node.node_id) else 1
        for attempt in range(tries):
            last = attempt == tries - 1
            response = await session.get(url, params=query, timeout=timeout,
                                         headers=headers if last else {**headers, "Connection": "close"})
            if response.status == 200:
                break
            response.release()
            if response.status != 404 or last:
                raise RelayRefused(f"the leader's pod answered {response.status}")
        async with response:
            if await self._receive_in_thread(response, record):
                return
            while data := await response.content.readany():
                data += response.content.read_nowait()  # whatever else arrived meanwhile: one write
                await loop.run_in_executor(None, pwrite_all, self.fd, memoryview(data), self.received)
                self._landed(self.received, self.received + len(data))
        size = record.meta.size
        if size is not None and self.received < size:
            raise RelayRefused(f"the stream ended at {self.received} of {size} bytes")


    async def _receive_in_thread(self, response: ClientResponse, record: FillRecord) -> bool:
        """Receive the rest of a plain, sized stream in a thread that writes the relay file itself
        (``proxy.fill.receive.ThreadReceiver``): the loop does nothing per byte. False: it cannot
        be taken over (TLS between pods, an unknown size, every receive thread busy)."""
        assert record.meta is not None
        size = record.meta.size
        if size is None:
            return False
        taken = ResponseBody(response, record.meta, "the leader's pod").takeover()
        sock = plain_socket(taken) if taken is not None else None
        if taken is None or sock is None:
            return False
        loop, fd = asyncio.get_running_loop(), self.fd
        span = Wanted(self.received, size)
        try:
            await ThreadReceiver(span, self._landed, bytearray(BUFFER)).run(
                taken, sock, lambda receive: loop.run_in_executor(RECEIVE_THREADS, receive, fd))
        except UpstreamUnavailable as exc:
            raise RelayRefused(f"the stream ended at {self.received} of {size} bytes: {exc}") from exc
        return True

    def _landed(self, start: int, end: int) -> None:
        """Bytes [start, end) of the stream are in the relay file: local readers may have them."""
        self.received = end
        self.ctx.metrics.relayed_bytes.labels("received").inc(end - start)
        if self.fill.state is FillState.STREAMING and self.fill.tmp_path == self.path:
            self.fill.progressed(end)


def relay_prefix(node_id: str) -> str:
    return f"relay-{node_id}-"


def sweep_relay_files(directory: Path, node_id: str) -> int:
    """Remove the relay files a crash of this node left in ``directory`` (``--relay-dir``; the
    node's tmp dir on the volume is swept with everything else in it). Returns how many went."""
    removed = 0
    with contextlib.suppress(FileNotFoundError):
        for entry in directory.glob(relay_prefix(node_id) + "*"):
            entry.unlink(missing_ok=True)
            removed += 1
    return removed
