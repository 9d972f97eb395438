"""The supervisor holds each port the workers share: bound with ``SO_REUSEPORT``, never listening,
so the port stays this node's (``--port 0`` resolves once) while the kernel spreads connections
over the workers' listening sockets."""

from __future__ import annotations

import socket


class PortInUse(OSError):
    pass


def reserve(host: str, port: int) -> socket.socket:
    """A bound, non-listening ``SO_REUSEPORT`` socket on ``host:port``. Raises PortInUse when another
    process holds the port: a probe binds without ``SO_REUSEPORT`` first, so a second supervisor
    (or anything else) on the same port is refused instead of silently sharing it."""
    family, kind, proto, _, address = socket.getaddrinfo(host or None, port, type=socket.SOCK_STREAM,
                                                         flags=socket.AI_PASSIVE)[0]
    if port != 0:
        with socket.socket(family, kind, proto) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind(address)
            except OSError as exc:
                raise PortInUse(exc.errno, f"{host}:{port} is in use: {exc.strerror}") from exc
    held = socket.socket(family, kind, proto)
    held.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    held.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    held.bind(address)
    return held


def bound_port(sock: socket.socket) -> int:
    return int(sock.getsockname()[1])
