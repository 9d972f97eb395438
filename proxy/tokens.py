"""Bearer tokens that expire (OAuth access tokens of the clouds' credential chains), refreshed
before expiry in a worker thread, so a credential library's blocking I/O (a metadata server, a
token endpoint, a file) never stalls the event loop.

Adapters give a blocking ``fetch`` that returns ``(token, expires_at)`` (seconds since the epoch,
None: no known expiry); concurrent callers share one refresh.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

REFRESH_MARGIN = 300.0
"""A token this close to its expiry (seconds) is replaced before it is used."""

TokenFetch = Callable[[], tuple[str, float | None]]


class RefreshingToken:
    def __init__(self, fetch: TokenFetch, margin: float = REFRESH_MARGIN,
                 clock: Callable[[], float] = time.time) -> None:
        self._fetch = fetch
        self._margin = margin
        self._clock = clock
        self._token: str | None = None
        self._expires: float | None = None
        self._lock = asyncio.Lock()

    def _fresh(self) -> bool:
        return self._token is not None and (self._expires is None or self._expires - self._clock() > self._margin)

    async def get(self) -> str:
        """A token valid for at least ``margin`` more seconds (as far as its issuer said)."""
        if self._fresh():
            assert self._token is not None
            return self._token
        async with self._lock:
            if not self._fresh():
                self._token, self._expires = await asyncio.to_thread(self._fetch)
            assert self._token is not None
            return self._token
