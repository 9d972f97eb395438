"""The node-local coordinator's wire: one JSON object per line over a Unix stream socket.

Requests ``{"id": n, "op": "...", ...}`` are answered by ``{"id": n, "result": ...}`` (or
``"error"``); fill events reach every connection as ``{"ev": <key id>, "data": <FillEvent>}``.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

LINE_LIMIT = 16 << 20
"""Longest line either side reads (a status summary with many fills stays far below it)."""


def encode(message: dict[str, Any]) -> bytes:
    return json.dumps(message, separators=(",", ":")).encode() + b"\n"


async def read(reader: asyncio.StreamReader) -> dict[str, Any] | None:
    """The next message, or None at end of stream."""
    line = await reader.readline()
    if not line:
        return None
    message = json.loads(line)
    if not isinstance(message, dict):
        raise ValueError("a coordinator message must be a JSON object")
    return message
