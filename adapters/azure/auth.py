"""The proxy's credentials for Azure Blob Storage, applied to each request.

In order of preference: an account key (SharedKey, signed here: ``adapters.azure.sharedkey``), a
SAS token (its parameters added to every request), a Microsoft Entra token from azure-identity's
``DefaultAzureCredential`` (environment, workload identity, managed identity, Azure CLI...; scope
``https://storage.azure.com/.default``), or nothing (public containers). azure-identity is
synchronous: tokens are fetched and refreshed in a worker thread (``proxy.tokens``) before expiry.
"""

from __future__ import annotations

import base64
import binascii
import logging
import threading
from collections.abc import Sequence
from email.utils import formatdate
from typing import Any
from urllib.parse import parse_qsl

from adapters.azure import sharedkey
from proxy.tokens import RefreshingToken

log = logging.getLogger(__name__)

SCOPE = "https://storage.azure.com/.default"
VERSION = "2023-11-03"
"""The Blob REST API version every request names (``x-ms-version``)."""


class AzureAuth:
    def __init__(self, account_key: str | None = None, sas: str | None = None, identity: bool = True) -> None:
        """``identity``: without a key or SAS, ask DefaultAzureCredential (else: anonymous)."""
        if account_key is not None:
            try:
                base64.b64decode(account_key, validate=True)
            except (binascii.Error, ValueError) as exc:
                raise ValueError("the Azure account key is not base64") from exc
        self._key = account_key
        self._sas = [(k, v) for k, v in parse_qsl((sas or "").lstrip("?"), keep_blank_values=True)]
        self._identity = identity and account_key is None and not self._sas
        self._credential: Any = None
        self._guard = threading.Lock()
        self._token = RefreshingToken(self._refresh)

    @property
    def mode(self) -> str:
        if self._key is not None:
            return "shared-key"
        if self._sas:
            return "sas"
        return "identity" if self._identity else "anonymous"

    async def apply(self, method: str, account: str, raw_path: str, query: Sequence[tuple[str, str]],
                    headers: dict[str, str]) -> list[tuple[str, str]]:
        """Add the date, version and credentials to ``headers``; the query to send (SAS added)."""
        headers["x-ms-date"] = formatdate(usegmt=True)
        headers["x-ms-version"] = VERSION
        if self._key is not None:
            headers["Authorization"] = sharedkey.authorization(self._key, method, account, raw_path, query, headers)
        elif self._sas:
            return [*query, *self._sas]
        elif self._identity:
            headers["Authorization"] = f"Bearer {await self._token.get()}"
        return list(query)

    def _refresh(self) -> tuple[str, float | None]:
        """Blocking (a worker thread): one DefaultAzureCredential, asked for a storage token."""
        from azure.identity import DefaultAzureCredential

        with self._guard:
            if self._credential is None:
                self._credential = DefaultAzureCredential()
            token = self._credential.get_token(SCOPE)
            return token.token, float(token.expires_on)
