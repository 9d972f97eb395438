"""The Azure catalog: a blob, or every blob under a prefix, for prefetch, pins and watches.

As for S3, a listing's version is a fingerprint of its (name, ETag) pairs.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import aiohttp

from adapters.azure.container import Azure, allowed
from adapters.azure.urls import GRAMMAR, AzUrl
from proxy.control.catalog import Snapshot, StoreCatalog
from proxy.control.urls import ModelUrl
from proxy.objectstore import ObjectStore


def azure_catalog(azure: Azure, session: Callable[[], aiohttp.ClientSession], revalidate_after: float) -> StoreCatalog:
    def locate(url: ModelUrl) -> tuple[ObjectStore, str]:
        assert isinstance(url, AzUrl)
        return azure.container(f"az://{url.account}/{url.container}", session), url.key

    return StoreCatalog(GRAMMAR, locate, revalidate_after, page_size=5000)


async def listed(azure: Azure, text: str, session: Callable[[], aiohttp.ClientSession],
                 allow: Sequence[str]) -> Snapshot:
    """``/v1/list`` of an ``az://`` prefix, if its container matches an ``allow`` pattern."""
    return await azure_catalog(azure, session, 0).snapshot(allowed(text, allow), None)
