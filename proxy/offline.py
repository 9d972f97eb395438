"""Offline mode: the upstream session's connector refuses every connection before it is attempted.

Adapters see an ordinary connection error and fall back to what is cached, exactly as when an
upstream is down: HF clients get a 5xx (they then use their local cache), S3 clients
``ServiceUnavailable``, ``/v1/fetch`` 502. Nothing leaves the node.
"""

from __future__ import annotations

from typing import Any

import aiohttp
from aiohttp.client_proto import ResponseHandler


class OfflineError(aiohttp.ClientConnectionError):
    """An upstream connection refused because the proxy runs with --offline."""


class OfflineConnector(aiohttp.BaseConnector):
    async def _create_connection(self, req: aiohttp.ClientRequest, traces: Any,
                                 timeout: aiohttp.ClientTimeout) -> ResponseHandler:  # noqa: ASYNC109
        raise OfflineError(f"offline mode: no connection to {req.url.host}")
