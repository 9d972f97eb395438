"""``az://`` model URLs: a blob, or every blob under a prefix, in an Azure Blob Storage container.

    az://account/container[/blob-or-prefix]
    https://<account>.blob.core.windows.net/container[/blob-or-prefix]   (the same, as Azure writes it)
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

from proxy.control.urls import InvalidUrl, UrlGrammar, segments, split_url

ACCOUNT = re.compile(r"[a-z0-9]{3,24}")
CONTAINER = re.compile(r"(?!.*--)[a-z0-9][a-z0-9-]{1,61}[a-z0-9]|\$root")
BLOB_HOST = ".blob.core.windows.net"
MAX_BLOB_NAME = 1024


@dataclass(frozen=True, slots=True)
class AzUrl:
    account: str
    container: str
    key: str = ""
    """A blob name, or a prefix (``""``: the whole container)."""

    @property
    def scheme(self) -> str:
        return "az"

    @property
    def version(self) -> str | None:
        return None

    def __str__(self) -> str:
        return f"az://{self.account}/{self.container}/{self.key}"


def is_blob_https(text: str) -> bool:
    """Whether ``text`` is an ``https://<account>.blob.core.windows.net/...`` URL."""
    try:
        parts = urlsplit(text)
    except ValueError:
        return False
    return parts.scheme.lower() == "https" and (parts.hostname or "").endswith(BLOB_HOST)


def parse(text: str) -> AzUrl:
    scheme, rest = split_url(text)
    if scheme == "https" and is_blob_https(text):
        parts = urlsplit(text)
        if parts.query or parts.fragment or parts.username or parts.port:
            raise InvalidUrl("an Azure blob URL here has no query (SAS), fragment, credentials or port")
        account = (parts.hostname or "").removesuffix(BLOB_HOST)
        rest = account + unquote(parts.path)
    elif scheme != "az":
        raise InvalidUrl(f"not an az:// URL: {text[:100]!r}")
    account, _, tail = rest.partition("/")
    container, _, key = tail.partition("/")
    if not ACCOUNT.fullmatch(account):
        raise InvalidUrl(f"not a storage account name (3-24 lower-case letters and digits): {account[:100]!r}")
    if not CONTAINER.fullmatch(container):
        raise InvalidUrl(f"not a container name: {container[:100]!r}")
    if len(key) > MAX_BLOB_NAME:
        raise InvalidUrl("a blob name has at most 1024 characters")
    if key.rstrip("/"):
        segments(key.rstrip("/"), "az:// blob name")
    return AzUrl(account, container, key)


GRAMMAR = UrlGrammar(("az",), parse)
