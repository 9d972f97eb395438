"""The node-local coordinator: leases, fill records, events and membership for the workers of
one node, served by the supervisor over a Unix socket (used when no Redis is configured).

Leases and records are an ``EmbeddedCoordinator`` (same tokens, same expiry); this module adds what
several processes need: every event goes to every worker, and each connection is a worker whose
leases, announced summary and blobs in use end with it. A worker that dies (its connection drops)
releases its leases at once, keeping their fill records, and a ``released`` event tells the
followers on other workers to take the fill over from the temp file: no lease TTL to wait out.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from proxy.cluster.embedded import EmbeddedCoordinator
from proxy.cluster.port import FillEvent, FillRecord, Lease, Node, key_id
from proxy.workers import wire

log = logging.getLogger(__name__)
_NODE = Node("node-local", "")


@dataclass(eq=False)
class _Worker:
    writer: asyncio.StreamWriter
    node_id: str = ""
    leases: dict[str, int] = field(default_factory=dict)
    summary: tuple[dict[str, Any], float] | None = None
    in_use: tuple[list[str], float] = ([], 0.0)


class CoordinatorServer:
    def __init__(self, path: str, clock: Callable[[], float] = time.monotonic) -> None:
        self.path = path
        self._clock = clock
        self._state = EmbeddedCoordinator(_NODE, clock)
        self._records: dict[str, FillRecord] = {}
        self._workers: set[_Worker] = set()
        self._server: asyncio.Server | None = None

    async def start(self) -> None:
        self._server = await asyncio.start_unix_server(self._serve, self.path, limit=wire.LINE_LIMIT)

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            for worker in list(self._workers):
                worker.writer.close()
            await self._server.wait_closed()

    def referenced_tmp(self) -> set[str]:
        """Temp files named by fill records: partial fills a successor may still adopt."""
        return {r.tmp for r in self._records.values() if r.tmp}

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        worker = _Worker(writer)
        self._workers.add(worker)
        try:
            while (message := await wire.read(reader)) is not None:
                try:
                    reply = {"id": message["id"], "result": await self._handle(worker, message)}
                except (KeyError, TypeError, ValueError) as exc:
                    reply = {"id": message.get("id"), "error": repr(exc)}
                writer.write(wire.encode(reply))
        except (ConnectionError, ValueError) as exc:
            log.warning("coordinator connection failed", extra={"worker": worker.node_id, "error": repr(exc)})
        finally:
            self._workers.discard(worker)
            await self._gone(worker)
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()

    async def _gone(self, worker: _Worker) -> None:
        """A worker's connection ended: hand its fills over now, keeping their records."""
        for key, token in worker.leases.items():
            held = await self._state.state(key)
            if not held.held:
                continue
            await self._state.release(Lease(key, token, _NODE, 0.0), keep_record=True)
            if not (await self._state.state(key)).held:
                log.info("worker gone: its fill is handed over", extra={"worker": worker.node_id, "key": key})
                self._broadcast(key, FillEvent("released", token, record=self._records.get(key)))

    async def _mirror(self, key: str) -> None:
        """Keep ``referenced_tmp``'s view of the key's fill record current."""
        record = (await self._state.state(key)).record
        if record is None:
            self._records.pop(key, None)
        else:
            self._records[key] = record

    def _broadcast(self, key: str, event: FillEvent) -> None:
        line = wire.encode({"ev": key_id(key), "data": event.encode()})
        for worker in self._workers:
            worker.writer.write(line)

    async def _handle(self, worker: _Worker, m: dict[str, Any]) -> Any:
        op, now = m["op"], self._clock()
        if op == "hello":
            worker.node_id = str(m["node"])
            return True
        if op == "try_lead":
            lease = await self._state.try_lead(m["key"], float(m["ttl"]))
            if lease is None:
                return None
            worker.leases[lease.key] = lease.token
            return lease.token
        if op == "renew":
            record = FillRecord.from_json(m["record"]) if m.get("record") else None
            ok = await self._state.renew(Lease(m["key"], int(m["token"]), _NODE, float(m["ttl"])), record)
            await self._mirror(m["key"])
            return ok
        if op == "release":
            key, token, keep = m["key"], int(m["token"]), bool(m["keep"])
            await self._state.release(Lease(key, token, _NODE, 0.0), keep_record=keep)
            await self._mirror(key)
            if worker.leases.get(key) == token:
                del worker.leases[key]
            return True
        if op == "state":
            state = await self._state.state(m["key"])
            return {"held": state.held, "record": state.record.to_json() if state.record else None}
        if op == "publish":
            self._broadcast(m["key"], FillEvent.decode(m["event"]))
            return True
        if op == "in_use":
            worker.in_use = (list(m["digests"]), now + float(m["ttl"]))
            return True
        if op == "in_use_elsewhere":
            return sorted({d for w in self._workers if w is not worker and w.in_use[1] > now for d in w.in_use[0]})
        if op == "announce":
            worker.summary = (dict(m["summary"]), now + float(m["ttl"]))
            return True
        if op == "members":
            return [w.summary[0] for w in sorted(self._workers, key=lambda w: w.node_id)
                    if w is not worker and w.summary is not None and w.summary[1] > now]
        raise ValueError(f"unknown operation {op!r}")
