"""Requests to the GCS JSON API (``/storage/v1``) over the proxy's aiohttp session.

The endpoint is ``https://storage.googleapis.com`` unless overridden (``--gcs-endpoint``, or
``STORAGE_EMULATOR_HOST`` as Google's own client libraries read it, for emulators). Object names
are percent-encoded whole (``/`` included) as one path segment, as the JSON API requires.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable, Mapping
from urllib.parse import quote, urlencode

import aiohttp
from yarl import URL

from adapters.gcs.auth import GcsAuth
from proxy import answers
from proxy.errors import UpstreamRejected, UpstreamUnavailable
from proxy.upstream import NETWORK_ERRORS

DEFAULT_ENDPOINT = "https://storage.googleapis.com"
MAX_JSON = 16 << 20
EMULATOR_ENV = "STORAGE_EMULATOR_HOST"


def endpoint_from(setting: str | None, environ: Mapping[str, str] = os.environ) -> URL:
    """``--gcs-endpoint``, else ``$STORAGE_EMULATOR_HOST`` (``host:port`` or a URL), else Google's."""
    text = setting or environ.get(EMULATOR_ENV) or DEFAULT_ENDPOINT
    if "://" not in text:
        text = f"http://{text}"
    return URL(text.rstrip("/"))


class GcsApi:
    """Authenticated JSON API requests; the session outlives them."""

    def __init__(self, endpoint: URL, auth: GcsAuth, session: Callable[[], aiohttp.ClientSession]) -> None:
        self.endpoint = endpoint
        self.auth = auth
        self._session = session

    def object_path(self, bucket: str, name: str) -> str:
        return f"/storage/v1/b/{quote(bucket, safe='')}/o/{quote(name, safe='')}"

    def objects_path(self, bucket: str) -> str:
        return f"/storage/v1/b/{quote(bucket, safe='')}/o"

    async def request(self, method: str, path: str, query: Iterable[tuple[str, str]] = (),
                      headers: Mapping[str, str] = {}) -> aiohttp.ClientResponse:
        """Send one request; UpstreamUnavailable when GCS (or the credential chain) cannot be reached."""
        try:
            auth = await self.auth.headers()
        except Exception as exc:  # google-auth raises its own errors, from a thread
            raise UpstreamUnavailable(f"GCS credentials ({self.auth.source}) failed: {exc}") from exc
        text = urlencode(list(query), quote_via=quote)
        base = str(self.endpoint).rstrip("/")
        url = URL(base + path + (f"?{text}" if text else ""), encoded=True)
        try:
            return await self._session().request(
                method, url, headers={**headers, **auth, "Accept-Encoding": "identity"},
                allow_redirects=False)
        except NETWORK_ERRORS as exc:
            raise UpstreamUnavailable(f"cannot reach GCS at {self.endpoint}: {exc!r}") from exc

    async def json(self, path: str, query: Iterable[tuple[str, str]] = ()) -> object:
        """A GET answered with JSON; the domain error for anything else."""
        response = await self.request("GET", path, query)
        try:
            if response.status != 200:
                raise await rejection(response)
            body = await answers.read_whole(response, MAX_JSON, "GCS")
            try:
                return json.loads(body)
            except ValueError as exc:
                raise UpstreamUnavailable("GCS answer is not JSON") from exc
        finally:
            response.close()


async def rejection(response: aiohttp.ClientResponse) -> UpstreamRejected | UpstreamUnavailable:
    """The domain error for a non-success answer (the body is read and the response closed)."""
    return await answers.rejection(response, "GCS", "application/json")
