"""Requests to the Blob service REST API over the proxy's aiohttp session.

The endpoint of an account is ``https://<account>.blob.core.windows.net`` unless overridden
(``--azure-endpoint``, ``{account}`` replaced: ``http://127.0.0.1:10000/{account}`` for Azurite's
path-style URLs). Blob names are percent-encoded except ``/``; the bytes on the wire are the bytes
signed (``encoded=True``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from urllib.parse import quote, urlencode

import aiohttp
from yarl import URL

from adapters.azure.auth import AzureAuth
from proxy import answers
from proxy.errors import UpstreamRejected, UpstreamUnavailable
from proxy.upstream import NETWORK_ERRORS

DEFAULT_ENDPOINT = "https://{account}.blob.core.windows.net"


class AzureApi:
    def __init__(self, endpoint: str | None, auth: AzureAuth, session: Callable[[], aiohttp.ClientSession]) -> None:
        self.endpoint = (endpoint or DEFAULT_ENDPOINT).rstrip("/")
        self.auth = auth
        self._session = session

    def account_url(self, account: str) -> URL:
        return URL(self.endpoint.replace("{account}", account), encoded=True)

    async def request(self, method: str, account: str, container: str, blob: str | None,
                      query: Iterable[tuple[str, str]] = (), headers: Mapping[str, str] = {}
                      ) -> aiohttp.ClientResponse:
        """Send one request; UpstreamUnavailable when Azure (or the credential chain) cannot be reached."""
        base = self.account_url(account)
        raw_path = base.raw_path.rstrip("/") + "/" + quote(container, safe="$")
        if blob is not None:
            raw_path += "/" + quote(blob, safe="/-_.~")
        sent = dict(headers)
        try:
            pairs = await self.auth.apply(method, account, raw_path, list(query), sent)
        except Exception as exc:  # azure-identity raises its own errors, from a thread
            raise UpstreamUnavailable(f"Azure credentials ({self.auth.mode}) failed: {exc}") from exc
        text = urlencode(pairs, quote_via=quote)
        url = URL(str(base.origin()) + raw_path + (f"?{text}" if text else ""), encoded=True)
        try:
            return await self._session().request(method, url, headers={**sent, "Accept-Encoding": "identity"},
                                                 allow_redirects=False, skip_auto_headers=("Content-Type",))
        except NETWORK_ERRORS as exc:
            raise UpstreamUnavailable(f"cannot reach Azure at {base}: {exc!r}") from exc


async def rejection(response: aiohttp.ClientResponse) -> UpstreamRejected | UpstreamUnavailable:
    """The domain error for a non-success answer (the body is read and the response closed)."""
    return await answers.rejection(response, "Azure", "application/xml")
