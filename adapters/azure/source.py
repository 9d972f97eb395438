"""``AzureSource``: one blob for the core, ``az:<account>/<container>/<blob>`` in the index.

A download is one Get Blob; the blob's ETag and Last-Modified are its validators. A resumed or
segmented request sends ``x-ms-range`` with ``If-Match: <ETag>``: Azure answers 412 when the blob
changed, which becomes UpstreamChanged, so two versions are never spliced. The blob's Content-MD5
property (``Content-MD5`` on a whole-blob GET, ``x-ms-blob-content-md5`` on a ranged one, which
is always the whole blob's) is the checksum the fill is verified against over the whole body
before commit; blobs uploaded in blocks without one are checked by size only.
"""

from __future__ import annotations

import aiohttp

from adapters.azure.api import AzureApi, rejection
from proxy.digest import Checksum
from proxy.errors import InvalidDigest, RangeIgnored, UpstreamChanged, UpstreamUnavailable
from proxy.read.ranges import ContentRange
from proxy.upstream import NOT_MODIFIED, Fetched, FetchRequest, NotModified, ObjectMeta, ResponseBody, Validators

PASSED = ("x-ms-blob-type", "x-ms-version-id", "x-ms-access-tier")


def cache_key(account: str, container: str, blob: str) -> str:
    return f"az:{account}/{container}/{blob}"


class AzureSource:
    def __init__(self, api: AzureApi, account: str, container: str, blob: str) -> None:
        self.api = api
        self.account = account
        self.container = container
        self.blob = blob
        self.key = cache_key(account, container, blob)

    async def fetch(self, request: FetchRequest) -> Fetched | NotModified:
        headers: dict[str, str] = {}
        if request.ranged:
            headers["x-ms-range"] = request.range_header()
            if request.if_range is not None and request.if_range.etag:
                headers["If-Match"] = request.if_range.etag
        if request.if_none_match is not None and request.if_none_match.etag:
            headers["If-None-Match"] = request.if_none_match.etag
        response = await self.api.request("GET", self.account, self.container, self.blob, headers=headers)
        try:
            return await self._interpret(response, request)
        except BaseException:
            response.close()
            raise

    async def _interpret(self, response: aiohttp.ClientResponse, request: FetchRequest) -> Fetched | NotModified:
        status = response.status
        if status == 304 and request.if_none_match is not None:
            response.close()
            return NOT_MODIFIED
        if status == 412 and request.ranged:
            raise UpstreamChanged(f"{self.key} changed upstream during the download (ETag)")
        if status not in (200, 206):
            raise await rejection(response)
        if request.end is not None and status == 200:
            raise RangeIgnored(f"Azure answered 200 to x-ms-range: {request.range_header()}")
        answered = ContentRange.parse(response.headers.get("Content-Range")) if status == 206 else None
        if (status == 206) != request.ranged or (answered is not None and answered.start != request.offset):
            raise UpstreamUnavailable(f"Azure answered {status} with an unexpected range")
        if answered is not None:
            size = answered.size
        else:
            length = response.headers.get("Content-Length")
            size = int(length) if length and length.isdigit() else None
        headers = response.headers
        md5 = headers.get("x-ms-blob-content-md5") or (headers.get("Content-MD5") if status == 200 else None)
        meta = ObjectMeta(size=size, content_type=headers.get("Content-Type", "application/octet-stream"),
                          validators=Validators(headers.get("ETag"), headers.get("Last-Modified")),
                          checksums=_md5(md5) if status == 200 else (),
                          attributes=tuple((k, headers[k]) for k in PASSED if k in headers))
        return ResponseBody(response, meta, "Azure")


def _md5(value: str | None) -> tuple[Checksum, ...]:
    if not value:
        return ()
    try:
        return (Checksum.from_base64("md5", value),)
    except InvalidDigest:
        return ()
