"""The port for object stores the S3 API can front besides S3 itself (Google Cloud Storage, Azure Blob).

A client-visible bucket is routed (``--s3-routes``) either to an S3 endpoint, which the S3 adapter
speaks to natively, or to an ``ObjectStore``: one bucket or container of another cloud, built by
that cloud's adapter and handed to the S3 adapter by the composition root. The S3 adapter renders
``list`` pages as ListObjects XML and serves object reads through the core with ``source(key)``,
so boto3, the aws CLI and Triton's S3 client reach every cloud through one endpoint.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from proxy.upstream import Source


@dataclass(frozen=True, slots=True)
class StoredObject:
    """One object as a listing shows it."""

    key: str
    size: int
    etag: str
    """Quoted, stable for one version of the object (what S3 clients compare)."""
    last_modified: datetime


@dataclass(frozen=True, slots=True)
class ObjectPage:
    """One page of a listing, in key order; ``prefixes`` are the rolled-up common prefixes."""

    objects: tuple[StoredObject, ...]
    prefixes: tuple[str, ...]
    next_token: str | None
    """Opaque continuation; None on the last page."""


class ObjectStore(Protocol):
    """One bucket (or container) of a non-S3 store, readable by key."""

    @property
    def label(self) -> str:
        """Where it is, for logs and errors: ``gs://bucket``, ``az://account/container``."""
        ...

    async def list(self, prefix: str, delimiter: str | None, token: str | None, max_keys: int,
                   start_after: str | None = None) -> ObjectPage:
        """Objects under ``prefix`` after ``start_after``, at most ``max_keys`` entries (objects
        and prefixes together). Raises UpstreamRejected (a 403/404 from the store) or
        UpstreamUnavailable."""
        ...

    def source(self, key: str) -> Source:
        """The object ``key`` for the core: fetch with ranges, If-Range and revalidation; metadata
        carries the store's checksums (md5, crc32c) so bytes are verified before commit.

        Its ``key`` (the index key) extends ``source(prefix).key`` for every ``key`` under
        ``prefix``: pins of a routed bucket's prefix record ``source(prefix).key``."""
        ...
