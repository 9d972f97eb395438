"""``GcsBucket``: one GCS bucket as the port ``proxy.objectstore.ObjectStore``, and ``Gcs``, the
configured client that makes them (``Gcs.store`` is the factory the S3 routes plug in)."""

from __future__ import annotations

import fnmatch
from collections.abc import Callable, Sequence

import aiohttp
from yarl import URL

from adapters.gcs.api import GcsApi
from adapters.gcs.auth import GcsAuth
from adapters.gcs.listing import parse_page
from adapters.gcs.source import GcsSource
from adapters.gcs.urls import GsUrl, parse
from proxy.control.urls import InvalidUrl
from proxy.errors import Forbidden
from proxy.objectstore import ObjectPage, ObjectStore

MAX_RESULTS = 1000
"""GCS's own cap on one objects.list page."""


class GcsBucket:
    def __init__(self, api: GcsApi, bucket: str) -> None:
        self.api = api
        self.bucket = bucket

    @property
    def label(self) -> str:
        return f"gs://{self.bucket}"

    async def list(self, prefix: str, delimiter: str | None, token: str | None, max_keys: int,
                   start_after: str | None = None) -> ObjectPage:
        query = [("prefix", prefix), ("maxResults", str(max(1, min(max_keys, MAX_RESULTS))))]
        if delimiter:
            query.append(("delimiter", delimiter))
        if token:
            query.append(("pageToken", token))
        if start_after:
            query.append(("startOffset", start_after))
        query.append(("fields", "items(name,size,md5Hash,generation,updated),prefixes,nextPageToken"))
        body = await self.api.json(self.api.objects_path(self.bucket), query)
        return parse_page(body, start_after)

    def source(self, key: str) -> GcsSource:
        return GcsSource(self.api, self.bucket, key)


class Gcs:
    """The GCS endpoint and credentials of this proxy; it makes one ``GcsBucket`` per bucket."""

    def __init__(self, endpoint: URL, auth: GcsAuth) -> None:
        self.endpoint = endpoint
        self.auth = auth

    def api(self, session: Callable[[], aiohttp.ClientSession]) -> GcsApi:
        return GcsApi(self.endpoint, self.auth, session)

    def store(self, target: str, session: Callable[[], aiohttp.ClientSession]) -> ObjectStore:
        """The bucket ``target`` names (``gs://bucket``, no object path)."""
        return self.bucket(target, session)

    def bucket(self, target: str, session: Callable[[], aiohttp.ClientSession]) -> GcsBucket:
        url = parse(target)
        if url.key:
            raise InvalidUrl(f"a route names a whole bucket, not {target[:100]!r}")
        return GcsBucket(self.api(session), url.bucket)

    def object_source(self, text: str, session: Callable[[], aiohttp.ClientSession],
                      allow: Sequence[str]) -> GcsSource:
        """The object a ``gs://bucket/name`` URL names, if its bucket matches an ``allow`` pattern."""
        url = allowed(text, allow)
        if not url.key or url.key.endswith("/"):
            raise InvalidUrl(f"{text[:100]!r} names no object")
        return GcsSource(self.api(session), url.bucket, url.key)


def allowed(text: str, allow: Sequence[str]) -> GsUrl:
    """``text`` parsed, if its bucket matches an ``allow`` pattern (else Forbidden)."""
    url = parse(text)
    if not any(fnmatch.fnmatchcase(url.bucket, p) for p in allow):
        raise Forbidden(f"bucket {url.bucket!r} is not allowed (see --gcs-allow)")
    return url
