"""The core as frontends see it: the few verbs an adapter needs, and none of how they are done.

Each frontend receives one ``Core`` in ``setup(app, core)``. It serves a ``Source`` for a request
(lookup, plan, fill, conditionals and ranges, the answer, ``X-Cache`` and the request counter),
answers a HEAD without starting a fill, looks a key up, makes sure a key is cached (prefetch),
admits bytes written through to the upstream, and lends the upstream ``ClientSession``.

Outcomes without a body (304, 412, 416) and failures before the headers are raised as
``proxy.errors`` exceptions for the adapter's error table; a failure after the headers aborts the
connection.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from aiohttp import ClientSession, web

from proxy.connections import ListenPolicy
from proxy.observe.metrics import Metrics
from proxy.read import serving
from proxy.read.driver import Cache, Hit, Resolved
from proxy.read.send import ServeOptions
from proxy.read.upload import Upload
from proxy.storage.index import IndexEntry
from proxy.storage.writer import Expectation
from proxy.upstream import ObjectMeta, Source

__all__ = ["Cached", "Core", "Prefetched", "ReadPolicy", "Upload"]

@dataclass(frozen=True, slots=True)
class Cached:
    """What the cache holds for a key: one version of an upstream object."""

    key: str
    size: int
    content_type: str = "application/octet-stream"
    etag: str | None = None
    last_modified: str | None = None
    attributes: Mapping[str, str] = field(default_factory=dict)
    """The adapter's facts remembered with it (``ObjectMeta.attributes``)."""

    @classmethod
    def of(cls, entry: IndexEntry) -> Cached:
        return cls(entry.key, entry.size, entry.content_type, entry.etag, entry.last_modified, dict(entry.extra))


@dataclass(frozen=True, slots=True)
class ReadPolicy:
    """How one frontend's reads are served."""

    frontend: str
    """The ``frontend`` label of the request counter."""
    max_age: float | None = None
    """Seconds a cached mutable object is served before it is revalidated; None: never revalidated."""
    redirect_ok: bool = False
    """A peer hop may redirect the client (its requests are not signed over the URL, and its access
    was checked before the read)."""
    attribute_headers: bool = False
    """Each attribute remembered with the object is sent as a response header (S3's ``x-amz-meta-*``…)."""
    recheck_if_match: bool = False
    """A hit whose ETag the client's If-Match does not name is revalidated at once: the client knows
    a newer version (e.g. from a fresher listing)."""


@dataclass(frozen=True, slots=True)
class Prefetched:
    outcome: str
    """hit, revalidated, stale, miss or coalesced (the last: the fill was already running)."""
    cached: Cached | None
    """What is cached now (None: the fill ended without an entry)."""


class Core:
    def __init__(self, cache: Cache, metrics: Metrics, options: ServeOptions,
                 session: Callable[[], ClientSession], listen: ListenPolicy | None = None) -> None:
        self._cache = cache
        self._metrics = metrics
        self._options = options
        self._session = session
        self._listen = listen

    @property
    def listen(self) -> ListenPolicy:
        """The process's connection policy, for an adapter's own listener (S3's dedicated port)."""
        if self._listen is None:
            raise RuntimeError("this core has no listen policy")
        return self._listen

    @property
    def session(self) -> ClientSession:
        """The upstream HTTP session (offline mode refuses its connections); open while the app runs."""
        return self._session()

    async def serve(self, request: web.Request, source: Source, policy: ReadPolicy,
                    headers: Mapping[str, str] = {}) -> web.StreamResponse:
        """Answer a GET or HEAD of ``source``'s object: from the cache, a running fill, or a new one."""
        async with self._cache.resolve(source, policy.max_age) as resolved:
            if not (policy.recheck_if_match and _names_another(request, resolved)):
                return await self._respond(request, resolved, policy, headers)
        async with self._cache.resolve(source, 0) as resolved:
            return await self._respond(request, resolved, policy, headers)

    async def _respond(self, request: web.Request, resolved: Resolved, policy: ReadPolicy,
                       headers: Mapping[str, str]) -> web.StreamResponse:
        self._metrics.requests.labels(policy.frontend, resolved.outcome).inc()
        if policy.attribute_headers:
            headers = {**headers, **_attributes(resolved)}
        return await serving.respond(request, resolved, self._metrics, self._options, headers,
                                     redirect_ok=policy.redirect_ok)

    async def head(self, request: web.Request, key: str, meta: ObjectMeta, policy: ReadPolicy,
                   headers: Mapping[str, str] = {}) -> web.StreamResponse:
        """Answer a HEAD of ``key`` without fetching: from the cached copy (hit), the running fill
        (coalesced), else from ``meta``, what the adapter learnt from the upstream (miss)."""
        entry = await self._cache.peek(key)
        fill = self._cache.fills.get(key)
        if entry is not None:
            rep, outcome = serving.of_entry(entry, entry.size), "hit"
            headers = {**headers, **serving.blob_headers(entry.digest)}
        elif fill is not None and fill.meta is not None:
            rep, outcome = serving.of_fill(fill), "coalesced"
        else:
            rep, outcome = serving.of_meta(meta), "miss"
        self._metrics.requests.labels(policy.frontend, outcome).inc()
        return await serving.respond_head(request, rep, outcome, headers)

    async def serve_committed(self, request: web.Request, key: str | IndexEntry, frontend: str,
                              headers: Mapping[str, str] = {}) -> web.StreamResponse | None:
        """Answer a GET or HEAD of ``key``'s committed blob (ranges, conditionals, sendfile) without
        ever filling it; None when it is not on the volume. Raises ``Answered`` like ``serve``."""
        async with self._cache.committed(key) as hit:
            if hit is None:
                return None
            self._metrics.requests.labels(frontend, hit.outcome).inc()
            return await serving.respond(request, hit, self._metrics, self._options, headers)

    async def lookup(self, key: str) -> Cached | None:
        """What the cache holds for ``key`` (its blob may have been evicted since)."""
        entry = await self._cache.lookup(key)
        return Cached.of(entry) if entry is not None else None

    async def prefetch(self, source: Source, max_age: float | None) -> Prefetched:
        """Make sure ``source``'s object is cached, as a read would, and wait for its fill to end.
        Raises the fill's error."""
        async with self._cache.resolve(source, max_age) as resolved:
            if isinstance(resolved, Hit):
                return Prefetched(resolved.outcome, Cached.of(resolved.entry))
            entry = await resolved.fill.done()
            return Prefetched(resolved.outcome, Cached.of(entry))

    @asynccontextmanager
    async def write_through(self, size: int) -> AsyncIterator[Upload]:
        """A blob for ``size`` bytes the adapter writes through to the upstream (``Upload.tee``);
        ``Upload.admit`` keeps it under a key once the upstream accepted them. Otherwise the bytes
        are dropped when the block ends."""
        writer = self._cache.store.create(Expectation(size=size))
        try:
            yield Upload(writer, self._cache)
        finally:
            await writer.cancel()


def _attributes(resolved: Resolved) -> dict[str, str]:
    if isinstance(resolved, Hit):
        return dict(resolved.entry.extra)
    meta = resolved.fill.meta
    return dict(meta.attributes) if meta is not None else {}


def _names_another(request: web.Request, resolved: Resolved) -> bool:
    wanted = request.headers.get("If-Match")
    if not isinstance(resolved, Hit) or wanted is None or wanted.strip() == "*":
        return False
    return resolved.entry.etag is not None and resolved.entry.etag not in wanted
