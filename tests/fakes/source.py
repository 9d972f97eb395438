"""A small ``proxy.upstream.Source`` over the fake upstream (``tests.fakes.fake_http``): tests of the
core read through it without any adapter."""

from __future__ import annotations

import asyncio

import aiohttp
from yarl import URL

from proxy.errors import UpstreamRejected, UpstreamUnavailable
from proxy.upstream import NOT_MODIFIED, Fetched, FetchRequest, NotModified, ObjectMeta, ResponseBody, Validators

_NETWORK_ERRORS = (aiohttp.ClientError, asyncio.TimeoutError, OSError)


class FakeSource:
    """The object at ``url``; ``fetching`` is set whenever the core asks the upstream for it."""

    def __init__(self, session: aiohttp.ClientSession, url: URL, fetching: asyncio.Event) -> None:
        self.key = f"test:{url.path}"
        self._session = session
        self._url = url
        self._fetching = fetching

    async def fetch(self, request: FetchRequest) -> Fetched | NotModified:
        self._fetching.set()
        headers = {"Accept-Encoding": "identity"}
        if request.offset:
            headers["Range"] = f"bytes={request.offset}-"
            if request.if_range is not None and request.if_range.etag:
                headers["If-Range"] = request.if_range.etag
        if request.if_none_match is not None and request.if_none_match.etag:
            headers["If-None-Match"] = request.if_none_match.etag
        try:
            response = await self._session.get(self._url, headers=headers)
        except _NETWORK_ERRORS as exc:
            raise UpstreamUnavailable(f"unreachable: {exc!r}") from exc
        if response.status == 304:
            response.close()
            return NOT_MODIFIED
        if response.status >= 500:
            response.close()
            raise UpstreamUnavailable(f"upstream answered {response.status}")
        if response.status >= 400:
            body = await response.read()
            response.close()
            raise UpstreamRejected(response.status, body, response.headers.get("Content-Type", "text/plain"))
        size = response.content_length
        if response.status == 206:
            size = int(response.headers["Content-Range"].rpartition("/")[2])
        validators = Validators(response.headers.get("ETag"), response.headers.get("Last-Modified"))
        meta = ObjectMeta(size=size, content_type=response.headers.get("Content-Type", "application/octet-stream"),
                          validators=validators)
        return ResponseBody(response, meta, "test upstream")
