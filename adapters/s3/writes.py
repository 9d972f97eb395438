"""Write-through PutObject: the body is streamed to the upstream and, at the same time, into a
blob on the cache volume; when the upstream accepts the object, the blob is indexed under the key
so the next read is a hit.

The upstream is the authority: the proxy answers with the upstream's status and ETag, and the blob
is committed only after the upstream said 200. The upstream verifies the payload: a hex
``x-amz-content-sha256`` from the client is signed into the upstream request as the payload hash,
and ``Content-MD5`` / ``x-amz-checksum-*`` headers are forwarded. ``aws-chunked`` bodies are refused
with ``NotImplemented``. Multipart uploads are ``adapters.s3.multipart`` (which shares
``plain_body`` and ``forwarded_headers``).
"""

from __future__ import annotations

import logging

from aiohttp import web

from adapters.s3 import sigv4, wire
from adapters.s3.listing import ListingCache
from adapters.s3.upstream import S3Upstream, cache_key, object_meta, rejection
from proxy.read.core import Core, Upload

log = logging.getLogger(__name__)

WRITE_CHUNK = 1 << 20
FORWARDED = ("content-type", "content-md5", "cache-control", "content-disposition", "content-language",
             "expires", "x-amz-storage-class", "x-amz-sdk-checksum-algorithm")
FORWARDED_PREFIXES = ("x-amz-meta-", "x-amz-checksum-")


async def put_object(request: web.Request, upstream: S3Upstream, core: Core, bucket: str, key: str,
                     listings: ListingCache) -> web.StreamResponse:
    length, payload_hash = plain_body(request)
    headers = forwarded_headers(request)
    headers["Content-Length"] = str(length)
    async with core.write_through(length) as upload:
        body = upload.tee(request.content.iter_chunked(WRITE_CHUNK))
        response = await upstream.request("PUT", bucket, key, headers=headers, data=body, payload_hash=payload_hash)
        if response.status != 200:
            raise await rejection(response)
        etag = response.headers.get("ETag", "")
        reply = {k: v for k, v in response.headers.items()
                 if k.lower() == "etag" or k.lower().startswith(("x-amz-checksum-", "x-amz-version-id",
                                                                "x-amz-server-side-encryption"))}
        response.close()
        listings.forget(bucket)
        await _admit(upstream, upload, bucket, key, etag)
        return web.Response(status=200, headers=reply)


def plain_body(request: web.Request) -> tuple[int, str]:
    """The length of a request body sent plainly (not ``aws-chunked``), and the payload hash to sign
    upstream: the client's hex ``x-amz-content-sha256`` (the upstream then verifies the bytes), else
    ``UNSIGNED-PAYLOAD`` (the body is streamed, never held whole)."""
    length = request.content_length
    claimed = request.headers.get("x-amz-content-sha256", sigv4.UNSIGNED_PAYLOAD)
    if "aws-chunked" in request.headers.get("Content-Encoding", "") or claimed.startswith("STREAMING-"):
        raise wire.S3Fault(wire.NOT_IMPLEMENTED, "aws-chunked uploads are not supported: send a plain body")
    if length is None:
        raise wire.S3Fault(wire.MISSING_CONTENT_LENGTH)
    return length, claimed if len(claimed) == 64 else sigv4.UNSIGNED_PAYLOAD


def forwarded_headers(request: web.Request, extra: frozenset[str] = frozenset()) -> dict[str, str]:
    """The client's headers that describe the object or the payload (never its signature)."""
    return {k: v for k, v in request.headers.items()
            if k.lower() in FORWARDED or k.lower() in extra or k.lower().startswith(FORWARDED_PREFIXES)}


async def _admit(upstream: S3Upstream, upload: Upload, bucket: str, key: str, etag: str) -> None:
    """Index the bytes under the version the upstream now has (HEAD gives Last-Modified and the
    content type as stored). If the object already changed again, nothing is indexed."""
    head = await upstream.request("HEAD", bucket, key)
    head.close()
    if head.status != 200 or head.headers.get("ETag") != etag:
        log.warning("write-through not cached: upstream HEAD disagrees", extra={"bucket": bucket, "key": key})
        return
    await upload.admit(cache_key(bucket, key), object_meta(head.headers, 200))
