"""Receiving with NIXL: the sidecar WRITEs into a buffer this process registered with its agent.

Per range: register the destination (DRAM), send the agent's metadata (which now names that
region) and the region on the control connection, wait for ``done`` (the sidecar's transfer
reached DONE), deregister. The client never exposes more than the range it asked for, and never
reads the sidecar's memory: the sidecar initiates every transfer. NIXL's progress thread must
run on this (passive) side.
"""

from __future__ import annotations

import base64
import importlib
import os
import threading
from types import ModuleType
from typing import Any

from modelmanager_client.ucx.tuning import apply_ucx_defaults
from modelmanager_client.ucx.wire import Channel

MODULES = ("nixl_cu13._api", "nixl_cu12._api", "nixl._api")


def nixl_api() -> ModuleType:
    """NIXL's Python API from whichever wheel is installed (``nixl-cu13``, ``nixl-cu12``)."""
    for name in MODULES:
        try:
            return importlib.import_module(name)
        except ModuleNotFoundError:
            continue
    raise ImportError("NIXL is not installed (pip install --no-deps nixl-cu13 or nixl-cu12)")


def address_of(view: memoryview) -> int:
    """The address of a writable or read-only buffer's first byte."""
    import numpy

    return int(numpy.frombuffer(view, dtype=numpy.uint8).ctypes.data)


def region(view: Any) -> tuple[int, int, int, str]:
    """(address, length, device, NIXL memory type) of a host buffer or a contiguous torch tensor
    (GPU memory is ``VRAM``: the sidecar writes straight into it where UCX can)."""
    if hasattr(view, "data_ptr"):
        length = int(view.numel() * view.element_size())
        if view.is_cuda:
            return int(view.data_ptr()), length, int(view.device.index or 0), "VRAM"
        return int(view.data_ptr()), length, 0, "DRAM"
    return address_of(view), len(view), 0, "DRAM"


class NixlReceiver:
    name = "nixl"

    def __init__(self) -> None:
        apply_ucx_defaults()
        api = nixl_api()
        self.agent = api.nixl_agent(f"mm-client-{os.getpid()}-{os.urandom(4).hex()}",
                                    api.nixl_agent_config(enable_prog_thread=True, backends=["UCX"]))
        self._lock = threading.Lock()

    def request(self, view: memoryview) -> tuple[dict[str, Any], Any]:
        address, length, device, mem = region(view)
        with self._lock:  # metadata must name every region registered so far
            registered = self.agent.register_memory([(address, length, device, "")], mem)
            metadata = self.agent.get_agent_metadata()
        return {"engine": self.name, "agent": base64.b64encode(metadata).decode(), "mem": mem,
                "buffer": [address, length, device]}, registered

    def receive(self, view: memoryview, handle: Any, channel: Channel, timeout: float) -> None:
        """The sidecar writes; its ``done`` (read by the caller) says the bytes are here."""

    def release(self, handle: Any) -> None:
        with self._lock:
            self.agent.deregister_memory(handle)
