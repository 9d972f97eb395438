"""Bucket-level reads (ListObjectsV2, ListObjects, ListBuckets, HeadBucket, GetBucketLocation):
forwarded to the upstream, the answer cached briefly in memory.

The upstream's XML is passed through byte for byte: keys, ``encoding-type=url`` escaping,
continuation tokens, and ETags are exactly what S3 said, so a listing's ETag and Size always equal
what HEAD and GET return for the same version. Identical concurrent listings share one upstream
request; an entry older than the TTL is fetched again, and served stale if the upstream is down.
Listings are kept in a ``proxy.memo.Memo``: at most ``MAX_MEMO_BYTES`` in all and ``RETAIN`` seconds
each, keyed by (method, bucket, hash of the query), so no client input grows memory unbounded.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass

from adapters.s3.upstream import S3Upstream, read_body, rejection
from proxy.errors import UpstreamUnavailable
from proxy.memo import Memo, memo_key

log = logging.getLogger(__name__)

LIST_PARAMS = frozenset({"list-type", "prefix", "delimiter", "max-keys", "continuation-token", "start-after",
                         "encoding-type", "fetch-owner", "marker", "max-buckets", "bucket-region"})
"""Query parameters of the listing calls; anything else on a bucket GET is a call we do not serve."""
BUCKET_SUBRESOURCES = frozenset({"location"})
MAX_LISTING_BYTES = 16 << 20
MAX_MEMO_BYTES = 64 << 20
RETAIN = 3600.0
"""Seconds a listing is kept at most (served stale within them while the upstream is down)."""


@dataclass(frozen=True, slots=True)
class Listing:
    status: int
    body: bytes
    content_type: str
    fetched_at: float


ListingKey = tuple[str, str | None, bytes]


class ListingCache:
    def __init__(self, upstream: S3Upstream, ttl: float, clock: Callable[[], float],
                 max_bytes: int = MAX_MEMO_BYTES) -> None:
        self._upstream = upstream
        self._ttl = ttl
        self._clock = clock
        self.entries: Memo[Listing] = Memo(clock, max_bytes, max(RETAIN, ttl), lambda listing: len(listing.body))
        self._inflight: dict[ListingKey, asyncio.Future[Listing]] = {}

    async def get(self, method: str, bucket: str | None, query: list[tuple[str, str]]) -> Listing:
        key: ListingKey = (method, bucket, memo_key(*(f"{k}={v}" for k, v in sorted(query))))
        cached = self.entries.last(key)
        if cached is not None and self._clock() - cached.fetched_at < self._ttl:
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
            self.entries.put(key, listing)
        return listing

    def forget(self, bucket: str) -> None:
        """Drop a bucket's cached listings (after a write through the proxy)."""
        self.entries.discard(lambda key: isinstance(key, tuple) and key[1] == bucket)

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
