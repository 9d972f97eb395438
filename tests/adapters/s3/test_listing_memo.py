"""Listings remembered by the S3 adapter are bounded by bytes, whatever queries clients invent."""

from __future__ import annotations

import time

from adapters.s3.listing import ListingCache
from tests.adapters.s3.conftest import Client, S3Proxy


async def test_unique_listing_queries_stay_within_the_byte_budget(s3: S3Proxy, direct: Client, bucket: str) -> None:
    direct.put_object(Bucket=bucket, Key="m/a.bin", Body=b"1")
    budget = 4 * 2048
    listings = ListingCache(s3.frontend.upstream, ttl=60, clock=time.monotonic, max_bytes=budget)
    for i in range(40):
        listing = await listings.get("GET", bucket, [("list-type", "2"), ("prefix", f"m/{'x' * 200}{i}")])
        assert listing.status == 200
    assert 0 < listings.entries.size <= budget
    assert len(listings.entries) < 40
    again = await listings.get("GET", bucket, [("list-type", "2"), ("prefix", f"m/{'x' * 200}39")])
    assert again.status == 200
    assert s3.relay.count("GET", f"/{bucket}") == 40, "the most recent listing is answered from memory"
