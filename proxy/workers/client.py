"""A worker's side of the node-local coordinator (``server``): the ``Coordinator`` port over a
Unix socket.

``shared`` is True: the workers of a node see one another's leases and tail one another's temp
files, exactly as pods do through Redis. The memory tier has no peers here (the workers share one
port, a hop would land on any of them), so ``hold``/``holders`` are local no-ops.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
from typing import TYPE_CHECKING, Any

from proxy.cluster.events import EventHub, Subscription
from proxy.cluster.port import Coordinator, FillEvent, FillRecord, Lease, LeaseState, Node, key_id
from proxy.digest import Digest
from proxy.errors import CoordinationUnavailable, InvalidDigest
from proxy.workers import wire

log = logging.getLogger(__name__)

TIMEOUT = 5.0
"""Seconds a request may take before the coordinator counts as unavailable."""


class LocalCoordinator:
    shared = True

    def __init__(self, path: str, node: Node) -> None:
        self.node = node
        self._path = path
        self._hub = EventHub()
        self._ids = itertools.count(1)
        self._pending: dict[int, asyncio.Future[Any]] = {}
        self._writer: asyncio.StreamWriter | None = None
        self._reader_task: asyncio.Task[None] | None = None
        self._connecting = asyncio.Lock()

    async def start(self) -> None:
        with contextlib.suppress(CoordinationUnavailable):
            await self._connect()

    async def close(self) -> None:
        if self._reader_task is not None:
            self._reader_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader_task
        if self._writer is not None:
            self._writer.close()
            with contextlib.suppress(ConnectionError):
                await self._writer.wait_closed()
            self._writer = None

    async def check(self) -> bool:
        try:
            await self._call("hello", node=self.node.node_id)
        except CoordinationUnavailable:
            return False
        return True

    # -- the connection -----------------------------------------------------------------------

    async def _connect(self) -> asyncio.StreamWriter:
        async with self._connecting:
            if self._writer is not None and not self._writer.is_closing():
                return self._writer
            try:
                reader, writer = await asyncio.open_unix_connection(self._path, limit=wire.LINE_LIMIT)
            except OSError as exc:
                raise CoordinationUnavailable(f"node coordinator at {self._path}: {exc}") from exc
            self._writer = writer
            self._reader_task = asyncio.create_task(self._read(reader), name="node coordinator")
            writer.write(wire.encode({"id": 0, "op": "hello", "node": self.node.node_id}))
            return writer

    async def _read(self, reader: asyncio.StreamReader) -> None:
        try:
            while (message := await wire.read(reader)) is not None:
                if "ev" in message:
                    self._hub.deliver(str(message["ev"]), FillEvent.decode(message["data"]))
                    continue
                future = self._pending.pop(int(message["id"]), None)
                if future is not None and not future.done():
                    if "error" in message:
                        future.set_exception(CoordinationUnavailable(str(message["error"])))
                    else:
                        future.set_result(message["result"])
        except (ConnectionError, ValueError, KeyError) as exc:
            log.warning("node coordinator connection failed", extra={"error": repr(exc)})
        finally:
            if self._writer is not None:
                self._writer.close()
            self._writer = None
            for future in self._pending.values():
                if not future.done():
                    future.set_exception(CoordinationUnavailable("node coordinator connection closed"))
            self._pending.clear()

    async def _call(self, op: str, **args: Any) -> Any:
        writer = self._writer if self._writer is not None else await self._connect()
        request_id = next(self._ids)
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending[request_id] = future
        try:
            writer.write(wire.encode({"id": request_id, "op": op, **args}))
            async with asyncio.timeout(TIMEOUT):
                return await future
        except (ConnectionError, TimeoutError) as exc:
            raise CoordinationUnavailable(f"node coordinator: {exc!r}") from exc
        finally:
            self._pending.pop(request_id, None)

    # -- leases and events --------------------------------------------------------------------

    async def try_lead(self, key: str, ttl: float) -> Lease | None:
        token = await self._call("try_lead", key=key, ttl=ttl)
        return None if token is None else Lease(key, int(token), self.node, ttl)

    async def renew(self, lease: Lease, record: FillRecord | None = None) -> bool:
        body = record.to_json() if record is not None else None
        return bool(await self._call("renew", key=lease.key, token=lease.token, ttl=lease.ttl, record=body))

    async def release(self, lease: Lease, *, keep_record: bool) -> None:
        await self._call("release", key=lease.key, token=lease.token, keep=keep_record)

    async def state(self, key: str) -> LeaseState:
        found = await self._call("state", key=key)
        record = found["record"]
        return LeaseState(bool(found["held"]), FillRecord.from_json(record) if record else None)

    async def publish(self, key: str, event: FillEvent) -> None:
        await self._call("publish", key=key, event=event.encode())

    def subscribe(self, key: str) -> Subscription:
        return self._hub.subscribe(key_id(key))

    # -- memory tier: no peers on one port ---------------------------------------------------

    async def hold(self, digest: Digest, ttl: float) -> None:
        return None

    async def drop(self, digest: Digest) -> None:
        return None

    async def holders(self, digest: Digest) -> list[Node]:
        return []

    # -- blobs in use, members ------------------------------------------------------------------

    async def announce_in_use(self, digests: set[Digest], ttl: float) -> None:
        await self._call("in_use", digests=sorted(str(d) for d in digests), ttl=ttl)

    async def in_use_elsewhere(self) -> set[Digest]:
        found: set[Digest] = set()
        for text in await self._call("in_use_elsewhere"):
            with contextlib.suppress(InvalidDigest):
                found.add(Digest.parse(str(text)))
        return found

    async def announce(self, summary: dict[str, Any], ttl: float) -> None:
        await self._call("announce", summary=summary, ttl=ttl)

    async def members(self) -> list[dict[str, Any]]:
        return [dict(m) for m in await self._call("members")]


if TYPE_CHECKING:
    _: type[Coordinator] = LocalCoordinator
