"""S3 calls on a bucket that no S3 endpoint serves natively: one routed to an ``ObjectStore`` (GCS,
Azure, a renamed S3 bucket), one not routed at all (``NoSuchBucket``), and ListBuckets when no S3
endpoint takes ``*``.

Reads only: ListObjectsV2/V1 (``adapters.s3.storelisting``), HeadBucket, GetBucketLocation, and
object GET/HEAD through the core with the store's ``source(key)``, so ranges, conditionals,
coalescing and verification are the core's, exactly as for S3 objects. The store's refusals are
answered as S3 error codes (404 NoSuchKey/NoSuchBucket, 403 AccessDenied).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING
from xml.sax.saxutils import escape

from aiohttp import web

from adapters.s3 import address, wire
from adapters.s3.listing import BUCKET_SUBRESOURCES, LIST_PARAMS
from adapters.s3.multipart import is_multipart
from adapters.s3.storelisting import NAMESPACE, XML_HEAD
from proxy.errors import UpstreamRejected

if TYPE_CHECKING:
    from adapters.s3.routes import S3Frontend

REFUSED = frozenset({"partNumber", "versionId", "acl", "tagging", "attributes", "torrent", "legal-hold",
                     "retention", "restore", "select"})


async def serve_store(front: S3Frontend, request: web.Request, target: address.Target,
                      query: list[tuple[str, str]]) -> web.StreamResponse:
    bucket, key = target.bucket, target.key
    if bucket is None:
        return list_buckets(front.router.named())
    store = front.router.store(bucket)
    if store is None:
        raise wire.S3Fault(wire.NO_SUCH_BUCKET, f"no route serves the bucket {bucket!r}")
    names = {name for name, _ in query}
    if request.method not in ("GET", "HEAD"):
        raise wire.S3Fault(wire.NOT_IMPLEMENTED, f"{store.label} is read-only through this proxy's S3 API")
    try:
        if key is None:
            return await _bucket(front, request, bucket, query, names)
        if names & REFUSED or is_multipart(names):
            raise wire.S3Fault(wire.NOT_IMPLEMENTED, f"{sorted(names)} not supported for {store.label}")
        return await front.core.serve(request, store.source(key), front.policy)
    except UpstreamRejected as exc:
        raise wire.S3Fault(_refusal(exc.status, key is not None), f"{store.label} answered {exc.status}") from exc


async def _bucket(front: S3Frontend, request: web.Request, bucket: str, query: list[tuple[str, str]],
                  names: set[str]) -> web.StreamResponse:
    store = front.router.store(bucket)
    assert store is not None
    if not names <= LIST_PARAMS | BUCKET_SUBRESOURCES or is_multipart(names):
        raise wire.S3Fault(wire.NOT_IMPLEMENTED, f"bucket calls with {sorted(names)} are not supported")
    if "location" in names:
        body = f'{XML_HEAD}<LocationConstraint xmlns="{NAMESPACE}"/>'.encode()
        return web.Response(body=body, content_type=wire.XML)
    if request.method == "HEAD":
        await store.list("", None, None, 1)  # HeadBucket: the store answers 404/403 for a missing bucket
        return web.Response(status=200)
    body = await front.store_listings.render(bucket, store, query)
    return web.Response(body=body, content_type=wire.XML)


def list_buckets(names: list[str]) -> web.Response:
    created = datetime(2020, 1, 1, tzinfo=UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    buckets = "".join(f"<Bucket><Name>{escape(n)}</Name><CreationDate>{created}</CreationDate></Bucket>"
                      for n in names)
    body = (f'{XML_HEAD}<ListAllMyBucketsResult xmlns="{NAMESPACE}"><Owner><ID>modelmanager</ID>'
            f"<DisplayName>modelmanager</DisplayName></Owner><Buckets>{buckets}</Buckets>"
            "</ListAllMyBucketsResult>").encode()
    return web.Response(body=body, content_type=wire.XML)


def _refusal(status: int, is_object: bool) -> wire.S3Error:
    if status == 404:
        return wire.NO_SUCH_KEY if is_object else wire.NO_SUCH_BUCKET
    if status in (401, 403):
        return wire.ACCESS_DENIED
    if status == 416:
        return wire.INVALID_RANGE
    return wire.S3Error(status if 400 <= status < 500 else 502, "InvalidRequest", "The store refused the request.")
