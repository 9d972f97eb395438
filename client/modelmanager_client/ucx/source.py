"""``UcxRanges``: a blob's ranges pulled from the sidecar into caller memory, one control
connection per reading thread, and the process-wide receiver of the chosen engine."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, Protocol

from modelmanager_client.ucx.config import UcxConfig
from modelmanager_client.ucx.wire import Channel, WireError


class Receiver(Protocol):
    name: str

    def request(self, view: memoryview) -> tuple[dict[str, Any], Any]:
        """The fields a ``get`` for ``view`` carries, and what ``receive``/``release`` need."""

    def receive(self, view: memoryview, handle: Any, channel: Channel, timeout: float) -> None: ...

    def release(self, handle: Any) -> None: ...


_receivers: dict[str, Receiver] = {}
_receivers_lock = threading.Lock()


def receiver(engine: str) -> Receiver:
    """This process's receiver for ``engine`` (UCX is initialised once); ImportError without it."""
    with _receivers_lock:
        if engine not in _receivers:
            if engine == "nixl":
                from modelmanager_client.ucx.nixl_receiver import NixlReceiver

                _receivers[engine] = NixlReceiver()
            else:
                from modelmanager_client.ucx.ucxx_receiver import UcxxReceiver

                _receivers[engine] = UcxxReceiver()
        return _receivers[engine]


class UcxRanges:
    def __init__(self, config: UcxConfig, digest: str, size: int,
                 on_bytes: Callable[[int], None] | None = None) -> None:
        self.config = config
        self.digest = digest
        self.size = size
        self.on_bytes = on_bytes
        self.receiver = receiver(config.engine)
        self._streams = threading.BoundedSemaphore(config.streams)
        self._local = threading.local()
        self._channels: list[Channel] = []
        self._lock = threading.Lock()
        self.channel()  # log in now: a wrong secret or a missing sidecar is known before any byte moves

    def channel(self) -> Channel:
        channel: Channel | None = getattr(self._local, "channel", None)
        if channel is None:
            channel = Channel(self.config.address, self.config.timeout)
            try:
                engines = channel.login(self.config.secret)
            except BaseException:
                channel.close()
                raise
            if self.config.engine not in engines:
                channel.close()
                raise WireError(f"the sidecar offers {engines}, not {self.config.engine}")
            self._local.channel = channel
            with self._lock:
                self._channels.append(channel)
        return channel

    def read_into(self, offset: int, view: memoryview) -> None:
        if not len(view):
            return
        with self._streams:
            self._read(offset, view)
        if self.on_bytes is not None:
            self.on_bytes(len(view))

    def _read(self, offset: int, view: memoryview) -> None:
        channel = self.channel()
        fields, handle = self.receiver.request(view)
        try:
            channel.send({"op": "get", "digest": self.digest, "offset": offset, "length": len(view), **fields})
            answer = channel.receive()
            if answer.get("size") != self.size:
                raise WireError(f"the sidecar's blob has {answer.get('size')} bytes, the proxy said {self.size}")
            self.receiver.receive(view, handle, channel, self.config.timeout)
            if not channel.receive().get("done"):
                raise WireError("the sidecar did not confirm the transfer")
        finally:
            self.receiver.release(handle)

    def close(self) -> None:
        with self._lock:
            for channel in self._channels:
                channel.close()
            self._channels.clear()
