"""Status: what this pod is doing, as one JSON document (``GET /v1/status``) for the dashboard.

The document is built for additions: readers ignore keys they do not know, and features add keys
(or fill lists) without changing the ones below. Its shape, version 1::

    {
      "schema": 1,
      "generated_at": 1767225600.0,          # unix seconds
      "node_id": "modelmanager-7d9f-abcde",  # the pod that answered
      "cache": {"used_bytes": 123, "blobs": 4, "quota_bytes": null, "measured_at": 1767225599.0},
      "pinned": [],                          # pinned models; filled in by the prefetch feature
      "artifacts": {"count": 1, "bytes": 10, "stored": [...], "builds": [...]},  # derived artifacts
      "nodes": [                             # this pod first; cluster mode appends its peers
        {"node_id": "...", "self": true, "advertise_url": "http://10.0.0.7:8080", "version": "0.1.0",
         "mode": "embedded", "ready": true, "uptime_seconds": 12.5,
         "traffic": {"requests": {"hit": 3, "miss": 1}, "requests_total": 4, "hit_ratio": 0.75,
                     "upstream_bytes": 100, "served_bytes": 400, "saved_bytes": 300},
         "fills": [{"key": "...", "state": "streaming", "written": 10, "size": 100,
                    "elapsed_seconds": 1.5, "bytes_per_second": 6.7}]}
      ]
    }

Keys and URLs pass ``proxy.urls.redact`` (no presigned signatures or tokens), and the document is
served only with the admin token (``proxy.control.guard``).

``quota_bytes`` is null when no disk quota is configured. The cache volume is shared by every
pod, so its size sits at the top; traffic and fills are per pod.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from proxy import __version__
from proxy.config import Settings
from proxy.fill.registry import Fills
from proxy.fill.state import Fill
from proxy.memo import Memo
from proxy.observe.metrics import PREFIX, Metrics
from proxy.observe.redact import redact
from proxy.read.driver import Cache
from proxy.singleflight import SingleFlight

SCHEMA = 1
JsonObject = dict[str, Any]

# Outcomes that did not download the body from upstream for this request.
_SAVED_OUTCOMES = ("hit", "coalesced", "revalidated", "stale")


class Usage:
    """Bytes and blobs on the cache volume, walked at most once per ``max_age`` seconds."""

    def __init__(self, cache: Cache, clock: Callable[[], float], max_age: float = 10.0) -> None:
        self._cache = cache
        self._clock = clock
        self.max_age = max_age
        self._measured: Memo[str, JsonObject] = Memo(clock, max_entries=1)
        self._walks: SingleFlight[JsonObject] = SingleFlight()

    async def get(self) -> JsonObject:
        measured = self._measured.fresh("volume", self.max_age)
        if measured is not None:
            return measured
        return await self._walks.run("volume", self._walk)  # one walk at a time, however many pollers

    async def _walk(self) -> JsonObject:
        measured = await asyncio.get_running_loop().run_in_executor(None, self._measure)
        self._measured.put("volume", measured)
        return measured

    def _measure(self) -> JsonObject:
        used = blobs = 0
        for _, st in self._cache.store.digests():
            used += st.st_size
            blobs += 1
        return {"used_bytes": used, "blobs": blobs, "measured_at": self._clock()}


def fill_status(fill: Fill, now: float) -> JsonObject:
    """One in-flight fill; ``now`` is ``time.monotonic()`` (a fill's start is monotonic)."""
    elapsed = max(0.0, now - fill.started)
    return {"key": redact(fill.key), "state": fill.state.value, "written": fill.written, "size": fill.size,
            "elapsed_seconds": round(elapsed, 3),
            "bytes_per_second": round(fill.written / elapsed, 1) if elapsed > 0 else None}


def traffic(metrics: Metrics) -> JsonObject:
    """Request outcomes and byte counters of this pod, from its Prometheus registry."""
    outcomes: dict[str, float] = {}
    served = upstream = 0.0
    for family in metrics.registry.collect():
        for sample in family.samples:
            if sample.name == f"{PREFIX}_requests_total":
                outcome = sample.labels["outcome"]
                outcomes[outcome] = outcomes.get(outcome, 0.0) + sample.value
            elif sample.name == f"{PREFIX}_served_bytes_total":
                served += sample.value
            elif sample.name == f"{PREFIX}_upstream_bytes_total":
                upstream = sample.value
    total = sum(outcomes.values())
    saved = sum(outcomes.get(o, 0.0) for o in _SAVED_OUTCOMES)
    return {"requests": {k: int(v) for k, v in sorted(outcomes.items())}, "requests_total": int(total),
            "hit_ratio": round(saved / total, 4) if total else None,
            "upstream_bytes": int(upstream), "served_bytes": int(served),
            "saved_bytes": int(max(0.0, served - upstream))}


class Status:
    """Builds the status document. Features plug in through the three attributes below."""

    def __init__(self, settings: Settings, cache: Cache, fills: Fills, metrics: Metrics,
                 clock: Callable[[], float] = time.time) -> None:
        self.settings = settings
        self.cache = cache
        self.fills = fills
        self.metrics = metrics
        self.clock = clock
        self.started_at = clock()
        self.usage = Usage(cache, clock)
        self.quota_bytes: Callable[[], int | None] = lambda: None
        """The disk quota in bytes, or None for no quota."""
        self.pinned: Callable[[], list[JsonObject]] = list
        """Pinned models, one object each (e.g. ``{"source": "hf", "repo": ..., "revision": ...}``)."""
        self.peers: Callable[[], Awaitable[list[JsonObject]]] = _no_peers
        """Other pods' node objects (same shape as this pod's, with ``"self": false``)."""
        self.artifacts: Callable[[], Awaitable[JsonObject]] | None = None
        """Derived artifacts stored and builds requested (``proxy.artifacts``), when the control API runs."""

    def node(self) -> JsonObject:
        now = time.monotonic()
        settings = self.settings
        tmp = self.cache.store.layout.tmp(settings.node_id)
        return {"node_id": settings.node_id, "self": True, "advertise_url": settings.advertised(),
                "version": __version__, "mode": "embedded" if settings.embedded else "cluster",
                "ready": os.access(tmp, os.W_OK), "uptime_seconds": round(self.clock() - self.started_at, 1),
                "traffic": traffic(self.metrics),
                "fills": [fill_status(f, now) for f in sorted(self.fills.running(), key=lambda f: f.started)]}

    async def snapshot(self) -> JsonObject:
        usage = await self.usage.get()
        return {"schema": SCHEMA, "generated_at": self.clock(), "node_id": self.settings.node_id,
                "cache": {**usage, "quota_bytes": self.quota_bytes()},
                "pinned": [{**p, "url": redact(p["url"])} if isinstance(p.get("url"), str) else p
                           for p in self.pinned()],
                "nodes": [self.node(), *await self.peers()],
                **({"artifacts": await self.artifacts()} if self.artifacts is not None else {})}

    async def handle(self, request: web.Request) -> web.Response:
        """``GET /v1/status``."""
        return web.json_response(await self.snapshot(), headers={"Cache-Control": "no-store"})


async def _no_peers() -> list[JsonObject]:
    return []
