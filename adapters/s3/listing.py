"""Bucket-level reads (ListObjectsV2, ListObjects, ListBuckets, HeadBucket, GetBucketLocation):
forwarded to the upstream, the answer cached briefly in memory.

The upstream's XML is passed through byte for byte: keys, ``encoding-type=url`` escaping,
continuation tokens, and ETags are exactly what S3 said, so a listing's ETag and Size always equal
what HEAD and GET return for the same version. Identical concurrent listings share one upstream
request; an entry older than the TTL is fetched again, and served stale if the upstream is down.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from adapters.s3.upstream import S3Upstream, read_body, rejection
from proxy.errors import UpstreamUnavailable

log = logging.getLogger(__name__)

LIST_PARAMS = frozenset({"list-type", "prefix", "delimiter", "max-keys", "continuation-token", "start-after",
                         "encoding-type", "fetch-owner", "marker", "max-buckets", "bucket-region"})
"""Query parameters of the listing calls; anything else on a bucket GET is a call we do not serve."""
BUCKET_SUBRESOURCES = frozenset({"location"})
MAX_LISTING_BYTES = 16 << 20


@dataclass(frozen=True, slots=True)
class Listing:
    status: int
    body: bytes
    content_type: str
    fetched_at: float


ListingKey = tuple[str, str | None, tuple[tuple[str, str], ...]]


class ListingCache:
    def __init__(self, upstream: S3Upstream, ttl: float, clock: Callable[[], float], max_entries: int = 4096) -> None:
        self._upstream = upstream
        self._ttl = ttl
        self._clock = clock
        self._max = max_entries
        self._entries: OrderedDict[ListingKey, Listing] = OrderedDict()
        self._inflight: dict[ListingKey, asyncio.Future[Listing]] = {}

    async def get(self, method: str, bucket: str | None, query: list[tuple[str, str]]) -> Listing:
        key: ListingKey = (method, bucket, tuple(sorted(query)))
        cached = self._entries.get(key)
        if cached is not None and self._clock() - cached.fetched_at < self._ttl:
            self._entries.move_to_end(key)
            return cached
        if (running := self._inflight.get(key)) is not None:
            return await asyncio.shield(running)
        future: asyncio.Future[Listing] = asyncio.get_running_loop().create_future()
        self._inflight[key] = future
        try:
            listing = await self._fetch(method, bucket, query)
        except UpstreamUnavailable as exc:
            if cached is None:
                future.set_exception(exc)
                future.exception()  # retrieved here; joiners re-raise it
                raise
            log.warning("serving stale listing: upstream unavailable", extra={"bucket": bucket, "error": str(exc)})
            listing = cached
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()
            raise
        finally:
            del self._inflight[key]
        future.set_result(listing)
        if listing.status == 200 and listing is not cached:
            self._store(key, listing)
        return listing

    def _store(self, key: ListingKey, listing: Listing) -> None:
        self._entries[key] = listing
        self._entries.move_to_end(key)
        while len(self._entries) > self._max:
            self._entries.popitem(last=False)

    def forget(self, bucket: str) -> None:
        """Drop a bucket's cached listings (after a write through the proxy)."""
        for key in [k for k in self._entries if k[1] == bucket]:
            del self._entries[key]

    async def _fetch(self, method: str, bucket: str | None, query: list[tuple[str, str]]) -> Listing:
        response = await self._upstream.request(method, bucket, None, query)
        if response.status != 200:
            raise await rejection(response)
        try:
            # read_body, not content.read(n): that returns whatever has arrived so far.
            body = await read_body(response, MAX_LISTING_BYTES) if method == "GET" else b""
        finally:
            response.close()
        return Listing(200, body, response.headers.get("Content-Type", "application/xml"), self._clock())
