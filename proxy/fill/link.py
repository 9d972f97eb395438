"""How a follower reaches its leader's pod directly: the internal fill endpoint's credentials and
the HTTP session to call it with (``proxy.fill.relay``, ``proxy.fill.feed``)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from aiohttp import ClientSession

FILL_ROUTE = "/_mm/v1/fills/{key_id}"
"""The internal endpoint a fill's leader serves the bytes it has landed on (cluster mode only)."""


@dataclass(slots=True)
class LeaderLink:
    secret: str
    """The cluster secret, presented as ``Authorization: Bearer <secret>``."""
    session: ClientSession | None = None
    """Set while the application runs; None: followers tail the shared temp file only."""
    directory: Path | None = None
    """Where relay files go (``--relay-dir``); None: this node's tmp dir on the cache volume."""
    connect_timeout: float = 1.0
    """Seconds to reach the leader's pod before falling back to the shared temp file."""
