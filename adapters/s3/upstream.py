"""The upstream object store: requests re-signed with the proxy's own credentials, and
``S3ObjectSource``, the core's ``Source`` for one S3 object.

Requests are path-style (``<endpoint>/<bucket>/<key>``), encoded the AWS way and sent with
``encoded=True`` so that the bytes on the wire are the bytes signed (yarl would otherwise rewrite
``%2B``/``%3D``). The client's own signature is never forwarded.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from xml.sax.saxutils import escape

import aiohttp
from multidict import CIMultiDictProxy
from yarl import URL

from adapters.s3 import regions, sigv4
from adapters.s3.credentials import Anonymous, CredentialSource
from adapters.s3.regions import RegionMemo
from proxy import answers
from proxy.digest import Checksum, ChecksumAlgorithm
from proxy.errors import InvalidDigest, RangeIgnored, UpstreamChanged, UpstreamRejected, UpstreamUnavailable
from proxy.read.ranges import ContentRange
from proxy.upstream import (
    NETWORK_ERRORS,
    NOT_MODIFIED,
    Fetched,
    FetchRequest,
    NotModified,
    ObjectMeta,
    ResponseBody,
    Validators,
)

log = logging.getLogger(__name__)

_MD5_ETAG = re.compile(r'"([0-9a-f]{32})"')
PASSED_HEADERS = frozenset({"cache-control", "content-disposition", "content-encoding", "content-language",
                            "expires", "x-amz-version-id", "x-amz-storage-class", "x-amz-mp-parts-count",
                            "x-amz-server-side-encryption", "x-amz-website-redirect-location"})
_CHECKSUM_HEADERS: dict[str, ChecksumAlgorithm] = {"x-amz-checksum-sha256": "sha256", "x-amz-checksum-sha1": "sha1"}


@dataclass(frozen=True, slots=True)
class Endpoint:
    url: URL
    region: str
    credentials: CredentialSource = field(default_factory=Anonymous)
    """Anonymous: unsigned upstream requests (public buckets)."""

    @property
    def host(self) -> str:
        return host_header(self.url)

    def raw_path(self, bucket: str | None, key: str | None) -> str:
        return raw_path(self.url, bucket, key)


def host_header(url: URL) -> str:
    assert url.host is not None
    default = {"http": 80, "https": 443}.get(url.scheme)
    return url.host if url.port in (None, default) else f"{url.host}:{url.port}"


def raw_path(url: URL, bucket: str | None, key: str | None) -> str:
    base = url.raw_path.rstrip("/")
    parts = [sigv4.uri_encode(p, keep_slash=True) for p in (bucket, key) if p is not None]
    return base + "/" + "/".join(parts)


EndpointFor = Callable[[str | None], "Endpoint | None"]
"""The endpoint serving a client-visible bucket (None: the service, ListBuckets); None: no route."""


class S3Upstream:
    """Signed requests to the upstream stores, on a session that outlives them. Each bucket goes to
    the endpoint its route names, signed for the region discovered for it (``adapters.s3.regions``)."""

    def __init__(self, endpoints: Endpoint | EndpointFor, session: Callable[[], aiohttp.ClientSession],
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self.endpoint_for: EndpointFor = (lambda _: endpoints) if isinstance(endpoints, Endpoint) else endpoints
        self._session = session
        self._clock = clock
        self.regions = RegionMemo(time.monotonic)

    async def request(self, method: str, bucket: str | None, key: str | None,
                      query: Iterable[tuple[str, str]] = (), headers: Mapping[str, str] = {},
                      data: Any = None, payload_hash: str = sigv4.EMPTY_SHA256) -> aiohttp.ClientResponse:
        """Send a signed request. Raises UpstreamUnavailable when the store cannot be reached, and
        UpstreamRejected (404 NoSuchBucket) for a bucket no route serves."""
        ep = self.endpoint_for(bucket)
        if ep is None:
            raise UpstreamRejected(404, no_such_bucket(bucket or ""), "application/xml")
        pairs = list(query)
        region = (self.regions.get(ep.url, bucket) if bucket else None) or ep.region
        response = await self._send(ep, region, method, bucket, key, pairs, headers, data, payload_hash)
        if response.status not in (301, 400) or bucket is None or not _replayable(data):
            return response
        body = b"" if method == "HEAD" else await read_body(response, answers.MAX_ERROR_BODY)
        response.close()
        answer = regions.from_answer(response.status, {k.lower(): v for k, v in response.headers.items()}, body)
        if answer.region is None or answer.region == region:
            raise UpstreamRejected(response.status, body, response.headers.get("Content-Type", "application/xml"))
        log.warning("S3 bucket is in another region: signing for it from now on",
                    extra={"bucket": bucket, "endpoint": str(ep.url), "region": answer.region, "was": region,
                           "answer": answer.code or str(response.status)})
        self.regions.put(ep.url, bucket, answer.region)
        return await self._send(ep, answer.region, method, bucket, key, pairs, headers, data, payload_hash)

    async def _send(self, ep: Endpoint, region: str, method: str, bucket: str | None, key: str | None,
                    pairs: list[tuple[str, str]], headers: Mapping[str, str], data: Any,
                    payload_hash: str) -> aiohttp.ClientResponse:
        url = regions.regional_url(ep.url, region) if region != ep.region else ep.url
        path = raw_path(url, bucket, key)
        canonical_query = sigv4.canonical_query(pairs)
        signed = dict(headers)
        credentials = await ep.credentials.current()
        if credentials is not None:
            signed = sigv4.sign(method, host_header(url), path, pairs, headers, credentials, region,
                                self._clock(), payload_hash)
        target = URL(str(url.origin()) + path + ("?" + canonical_query if canonical_query else ""), encoded=True)
        try:
            return await self._session().request(
                method, target, headers=signed, data=data, allow_redirects=False,
                skip_auto_headers=("Accept-Encoding", "Content-Type"))
        except NETWORK_ERRORS as exc:
            raise UpstreamUnavailable(f"cannot reach the S3 upstream: {exc!r}") from exc


def _replayable(data: Any) -> bool:
    return data is None or isinstance(data, bytes)


def no_such_bucket(bucket: str) -> bytes:
    return (f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>NoSuchBucket</Code><Message>The specified '
            f"bucket does not exist.</Message><BucketName>{escape(bucket)}</BucketName></Error>").encode()


async def rejection(response: aiohttp.ClientResponse) -> UpstreamRejected | UpstreamUnavailable:
    """The domain error for a non-success upstream answer (the body is read and the response closed)."""
    return await answers.rejection(response, "S3 upstream", "application/xml")


async def read_body(response: aiohttp.ClientResponse, limit: int) -> bytes:
    """A whole (small) response body; UpstreamUnavailable when it is cut off or over ``limit``."""
    return await answers.read_whole(response, limit, "S3 upstream")


class S3ObjectSource:
    """One object, ``s3:<bucket>/<key>`` in the index (``bucket`` as clients name it: ``indexed_as``
    when the route names the bucket differently upstream)."""

    def __init__(self, upstream: S3Upstream, bucket: str, key: str, indexed_as: str | None = None) -> None:
        self.upstream = upstream
        self.bucket = bucket
        self.object_key = key
        self.key = cache_key(indexed_as or bucket, key)

    async def fetch(self, request: FetchRequest) -> Fetched | NotModified:
        headers: dict[str, str] = {}
        if request.ranged:
            # S3 has no If-Range: If-Match turns "the object changed" into a 412.
            headers["Range"] = request.range_header()
            if request.if_range is not None and request.if_range.etag:
                headers["If-Match"] = request.if_range.etag
        else:
            headers["x-amz-checksum-mode"] = "ENABLED"
        if request.if_none_match is not None and request.if_none_match.etag:
            headers["If-None-Match"] = request.if_none_match.etag
        response = await self.upstream.request("GET", self.bucket, self.object_key, headers=headers)
        status = response.status
        if status == 304 and request.if_none_match is not None:
            response.close()
            return NOT_MODIFIED
        if status == 412 and request.ranged:
            response.close()
            raise UpstreamChanged(f"{self.key} changed upstream during the download")
        if status not in (200, 206):
            raise await rejection(response)
        if request.end is not None and status == 200:
            response.close()
            raise RangeIgnored(f"S3 upstream answered 200 to Range: {request.range_header()}")
        if (status == 206) != request.ranged or (request.ranged and _range_start(response) != request.offset):
            response.close()
            raise UpstreamUnavailable(f"S3 upstream answered {status} with an unexpected range")
        return ResponseBody(response, object_meta(response.headers, status), "S3 upstream")


def cache_key(bucket: str, key: str) -> str:
    return f"s3:{bucket}/{key}"


def _range_start(response: aiohttp.ClientResponse) -> int | None:
    answered = ContentRange.parse(response.headers.get("Content-Range"))
    return answered.start if answered is not None else None


def object_meta(headers: CIMultiDictProxy[str], status: int) -> ObjectMeta:
    if status == 206:
        answered = ContentRange.parse(headers.get("Content-Range"))
        size = answered.size if answered is not None else None
    else:
        length = headers.get("Content-Length")
        size = int(length) if length and length.isdigit() else None
    etag = headers.get("ETag")
    return ObjectMeta(size=size, content_type=headers.get("Content-Type", "application/octet-stream"),
                      validators=Validators(etag, headers.get("Last-Modified")),
                      checksums=checksums(headers, etag) if status == 200 else (),
                      attributes=passed_headers(headers))


def passed_headers(headers: Mapping[str, str]) -> tuple[tuple[str, str], ...]:
    """Object headers kept with the entry and sent to clients as S3 sent them (user metadata,
    version id, stored Content-Encoding...). Never checksums: a cached body may be served as a 206."""
    return tuple((k, v) for k, v in headers.items()
                 if k.lower() in PASSED_HEADERS or k.lower().startswith("x-amz-meta-"))


def checksums(headers: Mapping[str, str], etag: str | None) -> tuple[Checksum, ...]:
    """What the fill is verified against: the MD5 of a single-part object's ETag (unless it is
    SSE-KMS or SSE-C encrypted, whose ETags are not MD5s), and full-object SHA-256/SHA-1 checksums.
    Composite (``-N``) checksums cannot be checked over the whole body and are skipped."""
    found: list[Checksum] = []
    encrypted = (headers.get("x-amz-server-side-encryption") == "aws:kms"
                 or "x-amz-server-side-encryption-customer-algorithm" in headers)
    if etag and not encrypted and (match := _MD5_ETAG.fullmatch(etag)):
        found.append(Checksum("md5", match[1]))
    for name, algorithm in _CHECKSUM_HEADERS.items():
        value = headers.get(name)
        if value and "-" not in value:
            try:
                found.append(Checksum.from_base64(algorithm, value))
            except InvalidDigest:
                continue
    return tuple(found)
