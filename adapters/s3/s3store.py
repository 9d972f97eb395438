"""An S3 bucket as an ``ObjectStore``: what serves a route whose bucket has another name upstream
(``bucket:`` in the routes file), through the same generic path as GCS and Azure buckets.

Listing is ListObjectsV2 (``encoding-type=url``, so any key survives the XML), read into
``ObjectPage``s; objects are ``S3ObjectSource``s, indexed under the client-visible bucket name so
two routes to equally named buckets on different endpoints never share cache entries.
"""

from __future__ import annotations

from datetime import UTC, datetime
from urllib.parse import unquote_plus

from adapters.s3.listing import MAX_LISTING_BYTES
from adapters.s3.upstream import S3ObjectSource, S3Upstream, read_body, rejection
from adapters.s3.xmldoc import NotXml, fields, parse, tag
from proxy.errors import UpstreamUnavailable
from proxy.objectstore import ObjectPage, StoredObject
from proxy.upstream import Source


class S3Store:
    def __init__(self, upstream: S3Upstream, bucket: str, client_bucket: str) -> None:
        self._upstream = upstream
        self._bucket = bucket
        self._client_bucket = client_bucket
        self.label = f"s3://{bucket}"

    async def list(self, prefix: str, delimiter: str | None, token: str | None, max_keys: int,
                   start_after: str | None = None) -> ObjectPage:
        query = [("list-type", "2"), ("prefix", prefix), ("max-keys", str(max_keys)), ("encoding-type", "url")]
        query += [(name, value) for name, value in (("delimiter", delimiter), ("continuation-token", token),
                                                    ("start-after", start_after)) if value]
        response = await self._upstream.request("GET", self._bucket, None, query)
        if response.status != 200:
            raise await rejection(response)
        try:
            body = await read_body(response, MAX_LISTING_BYTES)
        finally:
            response.close()
        return parse_page(body)

    def source(self, key: str) -> Source:
        return S3ObjectSource(self._upstream, self._bucket, key, indexed_as=self._client_bucket)


def parse_page(body: bytes) -> ObjectPage:
    """A ListObjectsV2 answer (``encoding-type=url``) as a page."""
    try:
        root = parse(body)
    except NotXml as exc:
        raise UpstreamUnavailable(f"S3 listing is not XML: {exc}") from exc
    top = fields(root)
    encoded = top.get("EncodingType") == "url"

    def text(value: str) -> str:
        return unquote_plus(value) if encoded else value

    objects: list[StoredObject] = []
    prefixes: list[str] = []
    try:
        for node in root:
            if tag(node) == "Contents":
                entry = fields(node)
                objects.append(StoredObject(text(entry["Key"]), int(entry.get("Size") or 0), entry.get("ETag", ""),
                                            _timestamp(entry.get("LastModified", ""))))
            elif tag(node) == "CommonPrefixes":
                prefixes.append(text(fields(node)["Prefix"]))
    except (KeyError, ValueError) as exc:
        raise UpstreamUnavailable(f"S3 listing entry without {exc}") from exc
    token = top.get("NextContinuationToken") if top.get("IsTruncated") == "true" else None
    return ObjectPage(tuple(objects), tuple(prefixes), token or None)


def _timestamp(text: str) -> datetime:
    stamp = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return stamp if stamp.tzinfo is not None else stamp.replace(tzinfo=UTC)
