"""Offline maintenance of the cache volume: garbage collection of unreferenced blobs."""

from __future__ import annotations

from dataclasses import dataclass

from proxy.storage.blobstore import FsBlobStore
from proxy.storage.index import Index


@dataclass(frozen=True, slots=True)
class GcReport:
    removed: int
    removed_bytes: int
    kept: int
    young: int


def collect_garbage(store: FsBlobStore, index: Index, now: float, grace: float, dry_run: bool) -> GcReport:
    """Remove blobs no index entry points at, unless younger than ``grace`` seconds.

    The grace period covers a fill that has committed its blob but not yet written its index
    record. Readers that already opened a removed blob keep reading it (POSIX unlink semantics).
    """
    referenced = index.referenced()
    removed = removed_bytes = kept = young = 0
    for digest, st in list(store.digests()):
        if digest in referenced:
            kept += 1
        elif now - st.st_mtime < grace:
            young += 1
        else:
            if dry_run or store.delete(digest):
                removed += 1
                removed_bytes += st.st_size
    return GcReport(removed, removed_bytes, kept, young)
