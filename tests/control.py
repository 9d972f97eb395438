"""Calls to a proxy's control API from tests, and waiting for conditions without fixed sleeps."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

from tests.conftest import ADMIN, Proxy


async def call(proxy: Proxy, method: str, path: str, body: dict[str, Any] | None = None,
               expect: int | None = None, **params: str) -> Any:
    """A control API call with the admin token."""
    async with proxy.session.request(method, proxy.server.make_url(path), json=body, params=params,
                                     headers=ADMIN) as r:
        data = await r.json()
        if expect is not None:
            assert r.status == expect, data
        return data


async def prefetch(proxy: Proxy, **body: Any) -> dict[str, Any]:
    """Start a prefetch job and wait for it to finish (the server long-polls: no sleeps here)."""
    job = await call(proxy, "POST", "/v1/prefetch", body, expect=202)
    return await finished(proxy, job["id"])


async def finished(proxy: Proxy, job_id: str) -> dict[str, Any]:
    while True:
        job = await call(proxy, "GET", f"/v1/jobs/{job_id}", expect=200, wait="10")
        if job["finished_at"] is not None:
            return job  # type: ignore[no-any-return]


async def until(condition: Callable[[], bool], within: float = 30.0) -> None:
    """Wait for a condition that no event announces (state inside another component)."""
    deadline = time.monotonic() + within
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.01)
