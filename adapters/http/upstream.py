"""HttpSource: one object at an http(s) URL, fetched with aiohttp; redirects checked hop by hop."""

from __future__ import annotations

import aiohttp
from multidict import CIMultiDictProxy
from yarl import URL

from adapters.http.checksums import checksums_from
from adapters.http.target import HostAllowList, cache_key
from proxy import answers
from proxy.errors import Forbidden, RangeIgnored, UpstreamChanged, UpstreamRejected, UpstreamUnavailable
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

MAX_REDIRECTS = 10


class HttpSource:
    def __init__(self, url: URL, session: aiohttp.ClientSession, allow: HostAllowList) -> None:
        self.url = url
        self.key = cache_key(url)
        self._session = session
        self._allow = allow

    async def fetch(self, request: FetchRequest) -> Fetched | NotModified:
        headers = {"Accept-Encoding": "identity"}
        if request.ranged:
            headers["Range"] = request.range_header()
            if request.if_range is not None:
                strong = request.if_range.etag and not request.if_range.etag.startswith("W/")
                validator = request.if_range.etag if strong else request.if_range.last_modified
                if validator:
                    headers["If-Range"] = validator
        if request.if_none_match is not None:
            if request.if_none_match.etag:
                headers["If-None-Match"] = request.if_none_match.etag
            if request.if_none_match.last_modified:
                headers["If-Modified-Since"] = request.if_none_match.last_modified
        response = await self._get(headers)
        try:
            return await self._interpret(response, request)
        except BaseException:
            response.close()
            raise

    async def _get(self, headers: dict[str, str]) -> aiohttp.ClientResponse:
        url = self.url
        for _ in range(MAX_REDIRECTS + 1):
            self._allow.check(url)
            try:
                response = await self._session.get(url, headers=headers, allow_redirects=False)
            except NETWORK_ERRORS as exc:
                raise UpstreamUnavailable(f"cannot reach {url.host}: {exc!r}") from exc
            if response.status not in (301, 302, 303, 307, 308) or "Location" not in response.headers:
                return response
            response.close()
            url = url.join(URL(response.headers["Location"]))
            if url.scheme not in ("http", "https"):
                raise Forbidden(f"upstream redirected to a non-http URL: {url.scheme}")
        raise UpstreamUnavailable(f"more than {MAX_REDIRECTS} redirects from {self.url.host}")

    async def _interpret(self, response: aiohttp.ClientResponse, request: FetchRequest) -> Fetched | NotModified:
        status = response.status
        if status == 304 and request.if_none_match is not None:
            response.close()
            return NOT_MODIFIED
        if status >= 500 or status == 429:
            raise UpstreamUnavailable(f"upstream answered {status}")
        if status >= 400 or status not in (200, 206):
            body = await answers.error_body(response)
            raise UpstreamRejected(status, body, response.headers.get("Content-Type", "text/plain"))
        meta = _meta(response.headers, status)
        if request.end is not None and status == 200:
            raise RangeIgnored(f"upstream answered 200 to Range: {request.range_header()}")
        if request.ranged:
            resumed = ContentRange.parse(response.headers.get("Content-Range"))
            if status != 206 or resumed is None or resumed.start != request.offset:
                raise UpstreamChanged(f"upstream did not resume at byte {request.offset} (status {status})")
        elif status == 206:
            raise UpstreamUnavailable("upstream answered 206 to a request without Range")
        encoding = response.headers.get("Content-Encoding", "identity").lower()
        if encoding not in ("identity", ""):
            raise UpstreamUnavailable(f"upstream sent Content-Encoding {encoding} despite Accept-Encoding: identity")
        return ResponseBody(response, meta, "upstream")


def _total(headers: CIMultiDictProxy[str], status: int) -> int | None:
    if status == 206:
        answered = ContentRange.parse(headers.get("Content-Range"))
        return answered.size if answered is not None else None
    length = headers.get("Content-Length")
    return int(length) if length and length.isdigit() else None


def _meta(headers: CIMultiDictProxy[str], status: int) -> ObjectMeta:
    return ObjectMeta(
        size=_total(headers, status),
        content_type=headers.get("Content-Type", "application/octet-stream"),
        validators=Validators(headers.get("ETag"), headers.get("Last-Modified")),
        checksums=checksums_from(headers) if status == 200 else (),
    )
