"""The GCS catalog: an object, or every object under a prefix, for prefetch, pins and watches.

As for S3, a listing's version is a fingerprint of its (name, ETag) pairs, so a watch sees any
object added, removed or replaced (a new generation of a composite object changes its ETag too).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import aiohttp

from adapters.gcs.bucket import Gcs, allowed
from adapters.gcs.urls import GRAMMAR, GsUrl
from proxy.control.catalog import Snapshot, StoreCatalog
from proxy.control.urls import ModelUrl
from proxy.objectstore import ObjectStore


def gcs_catalog(gcs: Gcs, session: Callable[[], aiohttp.ClientSession], revalidate_after: float) -> StoreCatalog:
    def locate(url: ModelUrl) -> tuple[ObjectStore, str]:
        assert isinstance(url, GsUrl)
        return gcs.bucket(f"gs://{url.bucket}", session), url.key

    return StoreCatalog(GRAMMAR, locate, revalidate_after)


async def listed(gcs: Gcs, text: str, session: Callable[[], aiohttp.ClientSession],
                 allow: Sequence[str]) -> Snapshot:
    """``/v1/list`` of a ``gs://`` prefix, if its bucket matches an ``allow`` pattern."""
    return await gcs_catalog(gcs, session, 0).snapshot(allowed(text, allow), None)
