"""The control channel: an asyncio TCP server speaking ``modelmanager_client.ucx.wire``.

Each connection first proves it holds the cluster secret (and the sidecar proves it back); then
every ``get`` names a digest, a range and the client's UCX endpoint (a ucxx worker address, or a
NIXL agent and the buffer it registered). The range is checked against the committed blob and the
bytes are sent by the engine the client chose; the answer says ``done`` once they have landed.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping
from typing import Any

from modelmanager_client.ucx import wire
from ucx_sidecar.blobs import Blobs, Refused
from ucx_sidecar.engine import Engine

log = logging.getLogger(__name__)

LOGIN_TIMEOUT = 10.0


class Sidecar:
    def __init__(self, blobs: Blobs, secret: str, engines: Mapping[str, Engine]) -> None:
        if not secret:
            raise ValueError("the sidecar needs the cluster secret")
        self.blobs = blobs
        self.secret = secret
        self.engines = dict(engines)
        self.sent_bytes = 0

    async def serve(self, host: str, port: int) -> asyncio.Server:
        for engine in self.engines.values():
            await engine.start()
        return await asyncio.start_server(self.handle, host, port, limit=wire.MAX_LINE)

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = writer.get_extra_info("peername")
        state: dict[str, Any] = {}
        try:
            if not await asyncio.wait_for(self._login(reader, writer), LOGIN_TIMEOUT):
                return
            while line := await reader.readline():
                await self._get(wire.decode(line), writer, state)
        except (wire.WireError, ValueError, TimeoutError, ConnectionError, asyncio.IncompleteReadError) as exc:
            log.info("control connection ended: %s", exc, extra={"peer": str(peer)})
        except Exception:
            log.exception("control connection failed", extra={"peer": str(peer)})
        finally:
            for engine in self.engines.values():
                engine.forget(state)
            writer.close()

    async def _login(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
        mine = wire.nonce()
        writer.write(wire.encode({"v": wire.VERSION, "nonce": mine, "engines": sorted(self.engines)}))
        hello = wire.decode(await reader.readline())
        theirs = hello.get("nonce")
        if (hello.get("op") != "hello" or not wire.mac_ok(self.secret, "client", mine, hello.get("mac"))
                or not isinstance(theirs, str) or len(theirs) != 2 * wire.NONCE_BYTES):
            log.warning("refused a peer without the cluster secret",
                        extra={"peer": str(writer.get_extra_info("peername"))})
            writer.write(wire.encode({"error": "authentication failed"}))
            await writer.drain()
            return False
        writer.write(wire.encode({"ok": True, "mac": wire.mac(self.secret, "sidecar", theirs)}))
        await writer.drain()
        return True

    async def _get(self, request: dict[str, Any], writer: asyncio.StreamWriter, state: dict[str, Any]) -> None:
        engine = self.engines.get(str(request.get("engine")))
        offset, length = request.get("offset"), request.get("length")
        try:
            if request.get("op") != "get":
                raise Refused(f"unknown op {request.get('op')!r}")
            if engine is None:
                raise Refused(f"engine {request.get('engine')!r} is not offered: {sorted(self.engines)}")
            if type(offset) is not int or type(length) is not int:
                raise Refused("offset and length must be integers")
            blob = await asyncio.to_thread(self.blobs.open, request.get("digest"))
            view = blob.view(offset, length)
            target = await engine.target(request, state)
        except Refused as exc:
            writer.write(wire.encode({"error": str(exc)}))
            await writer.drain()
            return
        writer.write(wire.encode({"ok": True, "size": blob.size}))
        await writer.drain()
        started = time.perf_counter()
        try:
            await engine.send(target, view, request)
        except Exception as exc:  # the client went away mid-transfer, or UCX gave up: end this connection
            raise ConnectionError(f"{engine.name} transfer failed: {exc!r}") from exc
        self.sent_bytes += length
        log.debug("sent %d bytes in %.3f s", length, time.perf_counter() - started)
        writer.write(wire.encode({"done": True}))
        await writer.drain()
