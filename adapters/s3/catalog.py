"""The S3 adapter's catalog: an object, or every object under a prefix, listed with ListObjectsV2.

The version of a listing is a fingerprint of its (key, ETag) pairs, so a watch sees any object
added, removed or rewritten. Objects get the keys and ``S3ObjectSource`` of the S3 routes. S3 has
no atomic multi-object version: a changed object is refetched (revalidated by ETag) by the watch's
prefetch, and until that fill commits its readers tail the new version as it lands.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from adapters.s3.listing import MAX_LISTING_BYTES
from adapters.s3.upstream import S3ObjectSource, S3Upstream, cache_key, read_body, rejection
from adapters.s3.urls import GRAMMAR, S3Url
from adapters.s3.xmldoc import NotXml, fields, parse, tag
from proxy.control.catalog import Snapshot, SnapshotFile
from proxy.control.urls import ModelUrl
from proxy.errors import UpstreamUnavailable

MAX_PAGES = 10_000


@dataclass(frozen=True, slots=True)
class Listed:
    key: str
    etag: str
    size: int


class S3Catalog:
    def __init__(self, upstream: S3Upstream, revalidate_after: float) -> None:
        self._upstream = upstream
        self._revalidate_after = revalidate_after

    grammar = GRAMMAR
    watchable = True

    def hold(self, url: ModelUrl, version: str | None, public: bool) -> None:
        """S3 keys are not versioned through the proxy: nothing to hold (see the module docstring)."""

    async def current(self, url: ModelUrl) -> str:
        return (await self.snapshot(url, None)).version

    async def snapshot(self, url: ModelUrl, token: str | None) -> Snapshot:
        assert isinstance(url, S3Url)
        listed = await self._list(url.bucket, url.key)
        exact = [o for o in listed if o.key == url.key]
        if url.key and not url.key.endswith("/"):
            if exact:
                listed, root = exact, url.key.rpartition("/")[0]
            else:
                root = url.key
                listed = [o for o in listed if o.key.startswith(url.key + "/")]
        else:
            root = url.key.rstrip("/")
        fingerprint = hashlib.sha256("\n".join(f"{o.key}\t{o.etag}" for o in listed).encode()).hexdigest()
        start = len(root) + 1 if root else 0
        files = tuple(SnapshotFile(o.key[start:], o.size, S3ObjectSource(self._upstream, url.bucket, o.key),
                                   self._revalidate_after) for o in listed)
        prefix = cache_key(url.bucket, url.key if exact and url.key else (root + "/" if root else ""))
        return Snapshot(url, fingerprint[:32], files, (prefix,))

    async def _list(self, bucket: str, prefix: str) -> list[Listed]:
        found: list[Listed] = []
        token: str | None = None
        for _ in range(MAX_PAGES):
            query = [("list-type", "2"), ("prefix", prefix)] + ([("continuation-token", token)] if token else [])
            response = await self._upstream.request("GET", bucket, None, query=query)
            if response.status != 200:
                raise await rejection(response)
            try:
                body = await read_body(response, MAX_LISTING_BYTES)
            finally:
                response.close()
            page, token = _parse(body)
            found.extend(page)
            if token is None:
                return sorted(found, key=lambda o: o.key)
        raise UpstreamUnavailable("S3 listing has too many pages")


def _parse(body: bytes) -> tuple[list[Listed], str | None]:
    try:
        root = parse(body)
    except NotXml as exc:
        raise UpstreamUnavailable(f"S3 listing is not XML: {exc}") from exc
    page = []
    for node in root:
        if tag(node) != "Contents":
            continue
        entry = fields(node)
        page.append(Listed(entry.get("Key", ""), entry.get("ETag", ""), int(entry.get("Size", "0") or 0)))
    top = fields(root)
    token = top.get("NextContinuationToken") if top.get("IsTruncated") == "true" else None
    return page, token or None
