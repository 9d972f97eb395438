"""Receiving with ucxx: one worker per process, progressed by an event loop in its own thread.

The sidecar sends each range as one tagged message to this worker's address (see
``ucx_sidecar.ucxx_engine`` for why worker addresses, no endpoint error handling and blocking
progress). Each read waits for its message while watching the control connection, so a sidecar
that dies mid-transfer ends the wait at once (UCX's own error, or end of file on the socket).
"""

from __future__ import annotations

import asyncio
import base64
import os
import random
import select
import socket
import threading
from concurrent.futures import Future
from typing import Any

from modelmanager_client.ucx.tuning import apply_ucx_defaults
from modelmanager_client.ucx.wire import Channel, WireError

POLL = 0.2


class UcxxReceiver:
    name = "ucxx"

    def __init__(self) -> None:
        apply_ucx_defaults()
        import ucxx

        self._ucxx = ucxx
        self.loop = asyncio.new_event_loop()
        threading.Thread(target=self.loop.run_forever, name="mm-ucxx", daemon=True).start()
        self.address = self._run(self._init(os.environ.get("MODELMANAGER_UCXX_PROGRESS", "blocking"))).result()

    def _run(self, coroutine: Any) -> Future[Any]:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop)

    async def _init(self, progress_mode: str) -> str:
        self._ucxx.init(progress_mode=progress_mode)
        return base64.b64encode(self._ucxx.get_worker_address().tobytes()).decode()

    def request(self, view: memoryview) -> tuple[dict[str, Any], Any]:
        tag = random.getrandbits(62) + 1
        return {"engine": self.name, "address": self.address, "tag": tag}, tag

    def receive(self, view: memoryview, handle: Any, channel: Channel, timeout: float) -> None:
        """Wait for the tagged message into ``view``; raises if the sidecar fails or stalls."""
        future = self._run(self._ucxx.recv(view, handle))
        waited = 0.0
        while True:
            try:
                future.result(timeout=POLL)
                return
            except TimeoutError:
                waited += POLL
                if _closed(channel.sock) or waited > timeout:
                    future.cancel()
                    raise WireError("the sidecar went away mid-transfer" if waited <= timeout
                                    else f"no data for {timeout:.0f} s") from None

    def release(self, handle: Any) -> None:
        """Nothing to undo: the buffer was never registered."""


def _closed(sock: socket.socket) -> bool:
    """True when the peer closed the control connection (without consuming anything)."""
    readable, _, _ = select.select([sock], [], [], 0)
    if not readable:
        return False
    try:
        return sock.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT) == b""
    except BlockingIOError:
        return False
    except OSError:
        return True
