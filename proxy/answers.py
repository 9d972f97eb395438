"""An upstream's small answers, read whole: API JSON, listings, error bodies.

aiohttp's ``response.content.read(n)`` returns what has arrived so far, up to ``n`` bytes, not
the first ``n`` bytes of the body: an answer of a few hundred KiB (a Hub repo's info, a listing
page) comes back cut after the first reads. Adapters read such answers here, to their end, with a
limit; and map a non-success answer to the domain error the core understands.
"""

from __future__ import annotations

import aiohttp

from proxy.errors import UpstreamRejected, UpstreamUnavailable
from proxy.upstream import NETWORK_ERRORS

MAX_ERROR_BODY = 64 * 1024
"""Bytes of an upstream's error answer passed on to the client (the rest is dropped)."""

TRANSIENT = frozenset({408, 429})
"""Statuses below 500 that say "try again later": the upstream is unavailable, not refusing."""


async def read_whole(response: aiohttp.ClientResponse, limit: int, upstream: str) -> bytes:
    """The whole body; UpstreamUnavailable when the connection drops before its end or the body
    is longer than ``limit`` bytes."""
    parts: list[bytes] = []
    size = 0
    try:
        async for chunk in response.content.iter_any():
            size += len(chunk)
            if size > limit:
                raise UpstreamUnavailable(f"{upstream} answer larger than {limit} bytes")
            parts.append(chunk)
    except NETWORK_ERRORS as exc:
        raise UpstreamUnavailable(f"{upstream} answer interrupted: {exc!r}") from exc
    return b"".join(parts)


async def error_body(response: aiohttp.ClientResponse, limit: int = MAX_ERROR_BODY) -> bytes:
    """The first ``limit`` bytes of an error answer (to pass on); what arrived, if the
    connection drops."""
    parts: list[bytes] = []
    size = 0
    try:
        async for chunk in response.content.iter_any():
            parts.append(chunk[:limit - size])
            size += len(parts[-1])
            if size >= limit:
                break
    except NETWORK_ERRORS:
        pass
    return b"".join(parts)


async def rejection(response: aiohttp.ClientResponse, upstream: str,
                    content_type: str) -> UpstreamRejected | UpstreamUnavailable:
    """The domain error for a non-success answer: 5xx, 408 and 429 are the upstream's trouble
    (retried, served stale); any other passes on with its body (``content_type`` when it names
    none). The body is read and the response closed."""
    try:
        if response.status >= 500 or response.status in TRANSIENT:
            return UpstreamUnavailable(f"{upstream} answered {response.status}")
        body = await error_body(response)
        return UpstreamRejected(response.status, body, response.headers.get("Content-Type", content_type))
    finally:
        response.close()
