"""ListObjectsV2 and ListObjects (V1) for a bucket served by an ``ObjectStore``: the client's query
read, the store asked for one ``ObjectPage``, the page written as S3's XML.

V2 continues with the store's own opaque token (``continuation-token``); V1 continues from a key
(``marker``, and ``NextMarker`` is the last key or common prefix of a truncated page). A common
prefix at or before ``start-after``/``marker`` was already returned and is left out, so paging with
a delimiter never repeats a "directory". With ``encoding-type=url`` keys and prefixes are
percent-encoded (``+`` as ``%2B``) as S3 does. Pages are remembered for ``--s3-list-ttl`` seconds and
identical concurrent listings share one store call.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC
from urllib.parse import quote
from xml.sax.saxutils import escape

from adapters.s3 import wire
from proxy.memo import Memo
from proxy.objectstore import ObjectPage, ObjectStore
from proxy.singleflight import SingleFlight

NAMESPACE = "http://s3.amazonaws.com/doc/2006-03-01/"
MAX_KEYS = 1000
XML_HEAD = '<?xml version="1.0" encoding="UTF-8"?>\n'


@dataclass(frozen=True, slots=True)
class ListQuery:
    v2: bool
    prefix: str
    delimiter: str | None
    max_keys: int
    token: str | None
    start_after: str | None
    url_encoded: bool

    @classmethod
    def parse(cls, query: Sequence[tuple[str, str]]) -> ListQuery:
        q = dict(query)
        list_type = q.get("list-type")
        if list_type not in (None, "2"):
            raise wire.S3Fault(wire.INVALID_ARGUMENT, f"list-type must be 2, not {list_type!r}")
        encoding = q.get("encoding-type")
        if encoding not in (None, "url"):
            raise wire.S3Fault(wire.INVALID_ARGUMENT, "Invalid Encoding Method specified in Request")
        raw_max = q.get("max-keys", str(MAX_KEYS))
        if not raw_max.isdigit() or len(raw_max) > 10:
            raise wire.S3Fault(wire.INVALID_ARGUMENT, "max-keys must be a non-negative integer")
        v2 = list_type == "2"
        return cls(v2, q.get("prefix", ""), q.get("delimiter") or None, min(int(raw_max), MAX_KEYS),
                   (q.get("continuation-token") or None) if v2 else None,
                   (q.get("start-after") if v2 else q.get("marker")) or None, encoding == "url")


class StoreListings:
    def __init__(self, ttl: float, max_entries: int = 4096) -> None:
        self._ttl = ttl
        self._pages: Memo[tuple[str, ListQuery], bytes] = Memo(time.monotonic, max_entries=max_entries,
                                                               max_bytes=64 << 20, sizeof=len)
        self._flights: SingleFlight[bytes] = SingleFlight()

    async def render(self, bucket: str, store: ObjectStore, query: Sequence[tuple[str, str]]) -> bytes:
        parsed = ListQuery.parse(query)
        key = (bucket, parsed)
        cached = self._pages.fresh(key, self._ttl)
        if cached is not None:
            return cached
        return await self._flights.run(key, lambda: self._fetch(key, store))

    async def _fetch(self, key: tuple[str, ListQuery], store: ObjectStore) -> bytes:
        bucket, q = key
        token = q.token
        start_after = q.start_after if token is None else None
        if q.max_keys == 0:
            page = ObjectPage((), (), None)
        else:
            page = await store.list(q.prefix, q.delimiter, token, q.max_keys, start_after)
        body = render(bucket, q, page)
        self._pages.put(key, body)
        return body


def render(bucket: str, q: ListQuery, page: ObjectPage) -> bytes:
    after = q.start_after or ""
    prefixes = [p for p in page.prefixes if not after or p > after]

    def text(value: str) -> str:
        return escape(quote(value, safe="/") if q.url_encoded else value)

    def element(name: str, value: str | None, encoded: bool = False) -> str:
        return "" if value is None else f"<{name}>{text(value) if encoded else escape(value)}</{name}>"

    truncated = page.next_token is not None
    parts = [f'{XML_HEAD}<ListBucketResult xmlns="{NAMESPACE}">', element("Name", bucket),
             element("Prefix", q.prefix, True)]
    if q.v2:
        parts += [element("StartAfter", q.start_after, True), element("ContinuationToken", q.token),
                  element("KeyCount", str(len(page.objects) + len(prefixes)))]
    else:
        parts.append(element("Marker", q.start_after or "", True))
    parts += [element("MaxKeys", str(q.max_keys)), element("Delimiter", q.delimiter, True),
              element("EncodingType", "url" if q.url_encoded else None),
              element("IsTruncated", "true" if truncated else "false")]
    if truncated and q.v2:
        parts.append(element("NextContinuationToken", page.next_token))
    elif truncated:
        last = max([o.key for o in page.objects] + prefixes, default=None)
        parts.append(element("NextMarker", last, True))
    for obj in page.objects:
        when = obj.last_modified.astimezone(UTC)
        stamp = when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z"
        parts.append(f"<Contents>{element('Key', obj.key, True)}<LastModified>{stamp}</LastModified>"
                     f"{element('ETag', obj.etag)}<Size>{obj.size}</Size><StorageClass>STANDARD</StorageClass>"
                     "</Contents>")
    parts += [f"<CommonPrefixes>{element('Prefix', p, True)}</CommonPrefixes>" for p in prefixes]
    parts.append("</ListBucketResult>")
    return "".join(parts).encode()
