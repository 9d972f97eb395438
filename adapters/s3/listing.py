"""Bucket-level reads (ListObjectsV2, ListObjects, ListBuckets, HeadBucket, GetBucketLocation):
forwarded to the upstream, the answer cached briefly in memory.

The upstream's XML is passed through byte for byte: keys, ``encoding-type=url`` escaping,
continuation tokens, and ETags are exactly what S3 said, so a listing's ETag and Size always equal
what HEAD and GET return for the same version. Identical concurrent listings share one upstream
request; an entry older than the TTL is fetched again, and served stale if the upstream is down.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from adapters.s3.upstream import S3Upstream, read_body, rejection
from proxy.errors import UpstreamUnavailable
from proxy.memo import Memo
from proxy.singleflight import SingleFlight

log = logging.getLogger(__name__)

LIST_PARAMS = frozenset({"list-type", "prefix", "delimiter", "max-keys", "continuation-token", "start-after",
                         "encoding-type", "fetch-owner", "marker", "max-buckets", "bucket-region"})
"""Query parameters of the listing calls; anything else on a bucket GET is a call we do not serve."""
BUCKET_SUBRESOURCES = frozenset({"location"})
MAX_LISTING_BYTES = 16 << 20
MAX_CACHED_BYTES = 256 << 20
"""What the cached listings of one node may hold in all."""


@dataclass(frozen=True, slots=True)
class Listing:
    status: int
    body: bytes
    content_type: str


ListingKey = tuple[str, str | None, tuple[tuple[str, str], ...]]


class ListingCache:
    def __init__(self, upstream: S3Upstream, ttl: float, clock: Callable[[], float], max_entries: int = 4096,
                 max_bytes: int = MAX_CACHED_BYTES) -> None:
        self._upstream = upstream
        self._ttl = ttl
        self.entries: Memo[ListingKey, Listing] = Memo(clock, max_entries=max_entries, max_bytes=max_bytes,
                                                       sizeof=lambda listing: len(listing.body))
        """What is remembered: bounded by entries and by the bytes of the listings' bodies."""
        self._flights: SingleFlight[Listing] = SingleFlight()

    async def get(self, method: str, bucket: str | None, query: list[tuple[str, str]]) -> Listing:
        key: ListingKey = (method, bucket, tuple(sorted(query)))
        cached = self.entries.fresh(key, self._ttl)
        if cached is not None:
            return cached
        return await self._flights.run(key, lambda: self._refresh(key, method, bucket, query))

    async def _refresh(self, key: ListingKey, method: str, bucket: str | None, query: list[tuple[str, str]]) -> Listing:
        try:
            listing = await self._fetch(method, bucket, query)
        except UpstreamUnavailable as exc:
            stale = self.entries.last(key)
            if stale is None:
                raise
            log.warning("serving stale listing: upstream unavailable", extra={"bucket": bucket, "error": str(exc)})
            return stale
        if listing.status == 200:
            self.entries.put(key, listing)
        return listing

    def forget(self, bucket: str) -> None:
        """Drop a bucket's cached listings (after a write through the proxy)."""
        self.entries.drop(lambda key: key[1] == bucket)

    async def _fetch(self, method: str, bucket: str | None, query: list[tuple[str, str]]) -> Listing:
        response = await self._upstream.request(method, bucket, None, query)
        if response.status != 200:
            raise await rejection(response)
        try:
            # read_body, not content.read(n): that returns whatever has arrived so far.
            body = await read_body(response, MAX_LISTING_BYTES) if method == "GET" else b""
        finally:
            response.close()
        return Listing(200, body, response.headers.get("Content-Type", "application/xml"))
