"""Multipart uploads, forwarded to the upstream: CreateMultipartUpload, UploadPart,
CompleteMultipartUpload, AbortMultipartUpload, ListParts and ListMultipartUploads.

Each call is re-signed with the proxy's own credentials, and the upstream's answer is passed back as
it was sent: status, XML body, ``ETag`` and checksum headers, errors (through ``wire``). Part bodies
are streamed, never held whole; they are signed upstream with the client's hex
``x-amz-content-sha256`` when it sent one (so the upstream verifies the bytes), else
``UNSIGNED-PAYLOAD``, exactly as PutObject (``adapters.s3.writes``).

What is cached: not the parts. Once the upstream has completed an upload, ``Warmer`` fills the new
object from the upstream in the background, through the core's ``Core.prefetch`` as a read miss
would, so the next read is a hit, with the upstream's multipart ETag (``"…-N"``) as it is. Assembling
the parts the proxy saw was considered and not done: the upstream decides which parts make the
object (a part may be uploaded again, through another endpoint, or left out of the completion), a
composite ETag cannot verify the assembled bytes, and the parts of uploads that are never completed
would pile up on the cache volume. The fill costs one upstream read of the object and is verified
like any other.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import AsyncIterator, Callable, Collection

import aiohttp
from aiohttp import web

from adapters.s3 import auth, wire
from adapters.s3.listing import ListingCache
from adapters.s3.upstream import S3ObjectSource, S3Upstream, read_body, rejection
from adapters.s3.writes import WRITE_CHUNK, forwarded_headers, plain_body
from adapters.s3.xmldoc import NotXml, fields, parse, tag
from proxy.read.core import Core
from proxy.tasks import OwnedTasks

log = logging.getLogger(__name__)

OBJECT_QUERY = frozenset({"uploads", "uploadId", "partNumber", "max-parts", "part-number-marker", "encoding-type"})
BUCKET_QUERY = frozenset({"uploads", "prefix", "delimiter", "key-marker", "upload-id-marker", "max-uploads",
                          "encoding-type"})
CREATE_HEADERS = frozenset({"content-encoding", "x-amz-tagging"})
COMPLETE_HEADERS = frozenset({"if-match", "if-none-match", "x-amz-mp-object-size"})
REPLY_HEADERS = frozenset({"etag", "content-type", "x-amz-request-id", "x-amz-id-2", "x-amz-version-id",
                           "x-amz-abort-date", "x-amz-abort-rule-id", "x-amz-expiration", "x-amz-request-charged"})
REPLY_PREFIXES = ("x-amz-checksum-", "x-amz-server-side-encryption")
MAX_COMPLETE_BODY = 4 << 20
"""10,000 parts with checksums stay well under this."""
MAX_REPLY = 16 << 20

Query = list[tuple[str, str]]


def is_multipart(names: Collection[str]) -> bool:
    """Whether an object or bucket request is one of the multipart calls."""
    return "uploads" in names or "uploadId" in names


class MultipartUploads:
    def __init__(self, upstream: S3Upstream, listings: ListingCache, warmer: Warmer) -> None:
        self._upstream = upstream
        self._listings = listings
        self._warmer = warmer

    async def object_call(self, request: web.Request, bucket: str, key: str, query: Query) -> web.Response:
        names = {name for name, _ in query}
        if names - OBJECT_QUERY:
            raise wire.S3Fault(wire.NOT_IMPLEMENTED, f"{sorted(names - OBJECT_QUERY)} not supported")
        method = request.method
        if method == "POST" and "uploads" in names and "uploadId" not in names:
            return await self._create(request, bucket, key, query)
        if "uploadId" in names and "uploads" not in names:
            if method == "PUT" and "partNumber" in names:
                return await self._upload_part(request, bucket, key, query)
            if method == "POST":
                return await self._complete(request, bucket, key, query)
            if method in ("DELETE", "GET"):  # AbortMultipartUpload, ListParts
                return await _relay(await self._upstream.request(method, bucket, key, query))
        raise wire.S3Fault(wire.NOT_IMPLEMENTED, f"{method} with {sorted(names)} is not supported by this proxy")

    async def list_uploads(self, bucket: str, query: Query) -> web.Response:
        """ListMultipartUploads: forwarded every time (it changes with every upload), not cached."""
        names = {name for name, _ in query}
        if names - BUCKET_QUERY:
            raise wire.S3Fault(wire.NOT_IMPLEMENTED, f"{sorted(names - BUCKET_QUERY)} not supported")
        return await _relay(await self._upstream.request("GET", bucket, None, query))

    async def _create(self, request: web.Request, bucket: str, key: str, query: Query) -> web.Response:
        headers = forwarded_headers(request, CREATE_HEADERS)
        return await _relay(await self._upstream.request("POST", bucket, key, query, headers=headers))

    async def _upload_part(self, request: web.Request, bucket: str, key: str, query: Query) -> web.Response:
        if "x-amz-copy-source" in request.headers:
            raise wire.S3Fault(wire.NOT_IMPLEMENTED, "UploadPartCopy is not supported by this proxy")
        length, payload_hash = plain_body(request)
        headers = forwarded_headers(request)
        headers["Content-Length"] = str(length)
        response = await self._upstream.request("PUT", bucket, key, query, headers=headers, data=_stream(request),
                                                payload_hash=payload_hash)
        return await _relay(response)

    async def _complete(self, request: web.Request, bucket: str, key: str, query: Query) -> web.Response:
        length = request.content_length
        if length is None:
            raise wire.S3Fault(wire.MISSING_CONTENT_LENGTH)
        if length > MAX_COMPLETE_BODY:
            raise wire.S3Fault(wire.MALFORMED_XML, "the part list is too large")
        body = await request.content.readexactly(length) if length else b""
        auth.check_payload({k.lower(): v for k, v in request.headers.items()}, body)
        check_part_list(body)
        headers = forwarded_headers(request, COMPLETE_HEADERS)
        response = await self._upstream.request("POST", bucket, key, query, headers=headers, data=body,
                                                payload_hash=hashlib.sha256(body).hexdigest())
        reply = await _relay(response)
        assert isinstance(reply.body, bytes)
        completed = completion(reply.body)
        if completed is not None:
            self._listings.forget(bucket)
            self._warmer.warm(bucket, key, completed.get("ETag"))
        return reply


def check_part_list(body: bytes) -> None:
    """A CompleteMultipartUpload body: one or more ``Part`` with a ``PartNumber``, else MalformedXML."""
    try:
        root = parse(body)
    except NotXml as exc:
        raise wire.S3Fault(wire.MALFORMED_XML, f"the part list is not XML: {exc}") from exc
    parts = list(root)
    if tag(root) != "CompleteMultipartUpload" or not parts or any(
            tag(part) != "Part" or not fields(part).get("PartNumber", "").strip().isdigit() for part in parts):
        raise wire.S3Fault(wire.MALFORMED_XML, "expected CompleteMultipartUpload with numbered Part elements")


def completion(reply: bytes) -> dict[str, str] | None:
    """The fields of a CompleteMultipartUploadResult; None for anything else: S3 may answer 200 and
    still fail (an ``<Error>`` body), and only a result means a new object."""
    try:
        root = parse(reply)
    except NotXml:
        return None
    return fields(root) if tag(root) == "CompleteMultipartUploadResult" else None


class Warmer:
    """Background fills of objects written through the proxy whose bytes it did not keep (completed
    multipart uploads), so that the next read is a hit. Owns their tasks: ``close`` cancels them."""

    def __init__(self, upstream: S3Upstream, core: Callable[[], Core]) -> None:
        self._upstream = upstream
        self._core = core
        self._tasks = OwnedTasks("s3 warmer")

    def warm(self, bucket: str, key: str, etag: str | None) -> None:
        self._tasks.start(self._warm(bucket, key, etag), name=f"warm s3:{bucket}/{key}")

    async def settle(self) -> None:
        """Wait until every fill started so far has ended."""
        await self._tasks.settle()

    async def close(self) -> None:
        await self._tasks.close()

    async def _warm(self, bucket: str, key: str, etag: str | None) -> None:
        source = S3ObjectSource(self._upstream, bucket, key)
        try:
            for _ in range(2):
                # max_age=0: a cached older version is revalidated (and replaced) at once.
                done = await self._core().prefetch(source, max_age=0)
                got = done.cached.etag if done.cached is not None else None
                # A fill that was already running may have been of the version before this upload.
                if etag is None or got == etag or done.outcome != "coalesced":
                    break
            if etag is not None and got != etag:
                log.info("completed upload changed again upstream before it was cached",
                         extra={"bucket": bucket, "key": key, "etag": etag, "cached": got})
        except Exception as exc:  # the task's boundary: nobody awaits its result
            log.warning("completed upload not cached", extra={"bucket": bucket, "key": key, "error": repr(exc)})


async def _stream(request: web.Request) -> AsyncIterator[bytes]:
    async for chunk in request.content.iter_chunked(WRITE_CHUNK):
        yield chunk


async def _relay(response: aiohttp.ClientResponse) -> web.Response:
    """The upstream's answer to a write call, as it sent it; errors become ``UpstreamRejected``."""
    if not 200 <= response.status < 300:
        raise await rejection(response)
    try:
        body = await read_body(response, MAX_REPLY)
    finally:
        response.close()
    headers = {k: v for k, v in response.headers.items()
               if k.lower() in REPLY_HEADERS or k.lower().startswith(REPLY_PREFIXES)}
    return web.Response(status=response.status, body=body, headers=headers)

