"""The sidecar's control channel: JSON lines over one TCP connection, authenticated both ways.

::

    sidecar -> client   {"v": 1, "nonce": <hex>, "engines": ["ucxx", "nixl"]}
    client  -> sidecar  {"op": "hello", "mac": HMAC(secret, "client" + nonce), "nonce": <client hex>}
    sidecar -> client   {"ok": true, "mac": HMAC(secret, "sidecar" + client nonce)} | {"error": ...}
    client  -> sidecar  {"op": "get", "digest": <blake3 hex>, "offset": o, "length": n,
                         "engine": "ucxx", "tag": t, "address": <base64 worker address>}
                      | {"op": "get", ..., "engine": "nixl", "agent": <base64 metadata>, "descs": <base64>}
    sidecar -> client   {"ok": true, "size": <blob size>} (then the bytes move over UCX) | {"error": ...}
    sidecar -> client   {"done": true} once the bytes are in the client's buffer

HMAC is SHA-256 keyed with the cluster secret, over a role label and the peer's fresh random
nonce, so a captured answer cannot be replayed and neither side can be impersonated without the
secret. The sidecar never takes a path: only a blake3 digest, checked against what the proxy
committed. A line longer than ``MAX_LINE`` bytes ends the connection.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import socket
from typing import Any

VERSION = 1
MAX_LINE = 64 * 1024
NONCE_BYTES = 32
ENGINES = ("ucxx", "nixl")


class WireError(Exception):
    """The peer broke the protocol, refused us, or went away."""


def nonce() -> str:
    return os.urandom(NONCE_BYTES).hex()


def mac(secret: str, role: str, peer_nonce: str) -> str:
    """What ``role`` (``"client"`` or ``"sidecar"``) presents for the peer's nonce."""
    return hmac.new(secret.encode(), f"modelmanager-ucx/{VERSION}/{role}/{peer_nonce}".encode(),
                    hashlib.sha256).hexdigest()


def mac_ok(secret: str, role: str, peer_nonce: str, given: object) -> bool:
    return isinstance(given, str) and hmac.compare_digest(given.encode(), mac(secret, role, peer_nonce).encode())


def encode(message: dict[str, Any]) -> bytes:
    return json.dumps(message, separators=(",", ":")).encode() + b"\n"


def decode(line: bytes) -> dict[str, Any]:
    """One message; raises WireError for anything but a JSON object on one line."""
    if not line.endswith(b"\n"):
        raise WireError("connection closed" if not line else "line too long or cut short")
    try:
        message = json.loads(line)
    except ValueError as exc:
        raise WireError(f"not JSON: {exc}") from exc
    if not isinstance(message, dict):
        raise WireError("not a JSON object")
    return message


class Channel:
    """The client's end: a blocking socket with line framing."""

    def __init__(self, address: tuple[str, int], timeout: float) -> None:
        self.sock = socket.create_connection(address, timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.reader = self.sock.makefile("rb")

    def send(self, message: dict[str, Any]) -> None:
        self.sock.sendall(encode(message))

    def receive(self) -> dict[str, Any]:
        message = decode(self.reader.readline(MAX_LINE))
        if "error" in message:
            raise WireError(f"sidecar refused: {message['error']}")
        return message

    def login(self, secret: str) -> list[str]:
        """Authenticate both ways; returns the engines the sidecar offers."""
        greeting = self.receive()
        if greeting.get("v") != VERSION or not isinstance(greeting.get("nonce"), str):
            raise WireError(f"not a version {VERSION} sidecar: {greeting!r:.200}")
        mine = nonce()
        self.send({"op": "hello", "mac": mac(secret, "client", greeting["nonce"]), "nonce": mine})
        answer = self.receive()
        if not mac_ok(secret, "sidecar", mine, answer.get("mac")):
            raise WireError("the sidecar did not prove it holds the cluster secret")
        engines = greeting.get("engines")
        return [e for e in engines if isinstance(e, str)] if isinstance(engines, list) else []

    def close(self) -> None:
        self.reader.close()
        self.sock.close()


def parse_address(text: str, *, any_port: bool = False) -> tuple[str, int]:
    """``host:port`` (``[v6]:port`` too) of a sidecar; port 0 only with ``any_port`` (to listen
    on); raises ValueError."""
    host, sep, port = text.strip().rpartition(":")
    if not sep or not host or not port.isdigit() or not (0 if any_port else 1) <= int(port) < 65536:
        raise ValueError(f"a UCX sidecar address is host:port, not {text!r}")
    return host.strip("[]"), int(port)
