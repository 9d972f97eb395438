"""``AzureContainer``: one container as the port ``proxy.objectstore.ObjectStore``, and ``Azure``,
the configured client that makes them (``Azure.store`` is the factory the S3 routes plug in)."""

from __future__ import annotations

import fnmatch
from collections.abc import Callable, Sequence

import aiohttp

from adapters.azure.api import AzureApi, rejection
from adapters.azure.auth import AzureAuth
from adapters.azure.listing import parse_page
from adapters.azure.source import AzureSource
from adapters.azure.urls import AzUrl, parse
from proxy import answers
from proxy.control.urls import InvalidUrl
from proxy.errors import Forbidden, UpstreamUnavailable
from proxy.objectstore import ObjectPage, ObjectStore

MAX_RESULTS = 5000
"""Azure's own cap on one List Blobs page."""
MAX_LISTING = 32 << 20
MAX_SKIP_PAGES = 1000
"""Pages read past to reach ``start_after`` (List Blobs has no start key of its own)."""


class AzureContainer:
    def __init__(self, api: AzureApi, account: str, container: str) -> None:
        self.api = api
        self.account = account
        self.container = container

    @property
    def label(self) -> str:
        return f"az://{self.account}/{self.container}"

    async def list(self, prefix: str, delimiter: str | None, token: str | None, max_keys: int,
                   start_after: str | None = None) -> ObjectPage:
        for _ in range(MAX_SKIP_PAGES):
            page = await self._page(prefix, delimiter, token, max_keys, start_after)
            if page.objects or page.prefixes or page.next_token is None or start_after is None:
                return page
            token = page.next_token  # every entry of that page was at or before start_after
        raise UpstreamUnavailable(f"{self.label}: start-after is too far into the listing")

    async def _page(self, prefix: str, delimiter: str | None, token: str | None, max_keys: int,
                    start_after: str | None) -> ObjectPage:
        query = [("restype", "container"), ("comp", "list"), ("maxresults", str(max(1, min(max_keys, MAX_RESULTS))))]
        if prefix:
            query.append(("prefix", prefix))
        if delimiter:
            query.append(("delimiter", delimiter))
        if token:
            query.append(("marker", token))
        response = await self.api.request("GET", self.account, self.container, None, query)
        try:
            if response.status != 200:
                raise await rejection(response)
            body = await answers.read_whole(response, MAX_LISTING, "Azure listing")
        finally:
            response.close()
        return parse_page(body, start_after)

    def source(self, key: str) -> AzureSource:
        return AzureSource(self.api, self.account, self.container, key)


class Azure:
    """The Blob endpoint and credentials of this proxy; it makes one ``AzureContainer`` per container."""

    def __init__(self, endpoint: str | None, auth: AzureAuth) -> None:
        self.endpoint = endpoint
        self.auth = auth

    def api(self, session: Callable[[], aiohttp.ClientSession]) -> AzureApi:
        return AzureApi(self.endpoint, self.auth, session)

    def store(self, target: str, session: Callable[[], aiohttp.ClientSession]) -> ObjectStore:
        """The container ``target`` names (``az://account/container``, no blob path)."""
        return self.container(target, session)

    def container(self, target: str, session: Callable[[], aiohttp.ClientSession]) -> AzureContainer:
        url = parse(target)
        if url.key:
            raise InvalidUrl(f"a route names a whole container, not {target[:100]!r}")
        return AzureContainer(self.api(session), url.account, url.container)

    def object_source(self, text: str, session: Callable[[], aiohttp.ClientSession],
                      allow: Sequence[str]) -> AzureSource:
        """The blob an ``az://`` (or ``https://<account>.blob.core.windows.net/``) URL names, if its
        ``account/container`` matches an ``allow`` pattern."""
        url = allowed(text, allow)
        if not url.key or url.key.endswith("/"):
            raise InvalidUrl(f"{text[:100]!r} names no blob")
        return AzureSource(self.api(session), url.account, url.container, url.key)


def allowed(text: str, allow: Sequence[str]) -> AzUrl:
    """``text`` parsed, if its ``account/container`` matches an ``allow`` pattern (else Forbidden)."""
    url = parse(text)
    if not any(fnmatch.fnmatchcase(f"{url.account}/{url.container}", p) for p in allow):
        raise Forbidden(f"container {url.account}/{url.container} is not allowed (see --azure-allow)")
    return url
