"""Path hand-off: read the proxy's blob straight from its cache volume when this node mounts it.

The proxy names a committed blob's digest and its path relative to the volume
(``X-MM-Blob-Digest``, ``X-MM-Blob-Path``). The volume is found at ``MODELMANAGER_CACHE_MOUNT``,
else at the path the container image and the Helm chart mount it (``/var/cache/modelmanager``).
A blob is used only after its size and blake3 digest match what the proxy said; a verified blob's
inode, size and mtime are remembered in the node tier, so it is hashed once (blobs are immutable).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path, PurePosixPath

import blake3

from modelmanager_client.node import NodeTier
from modelmanager_client.remote import RemoteFile

log = logging.getLogger(__name__)

MOUNT_ENV = "MODELMANAGER_CACHE_MOUNT"
DEFAULT_MOUNTS = ("/var/cache/modelmanager",)


def mount() -> Path | None:
    """The proxy's cache volume as this node sees it, or None. ``MODELMANAGER_CACHE_MOUNT=`` (empty)
    turns hand-off off."""
    configured = os.environ.get(MOUNT_ENV)
    if configured is not None:
        return Path(configured) if configured else None
    return next((Path(p) for p in DEFAULT_MOUNTS if (Path(p) / "blobs").is_dir()), None)


def digest_of(path: Path) -> str:
    """blake3 of a file, hashed on every core (the hasher releases the GIL)."""
    hasher = blake3.blake3(max_threads=blake3.blake3.AUTO)
    hasher.update_mmap(path)
    return str(hasher.hexdigest())


def locate(remote: RemoteFile, volume: Path | None) -> tuple[Path | None, str]:
    """The blob's path on the volume if it can be used as is, else None; and why (for ``--explain``)."""
    if volume is None:
        return None, f"no cache volume mounted (set {MOUNT_ENV})"
    if remote.digest is None or remote.blob_path is None:
        return None, "the proxy named no blob (not cached there yet)"
    relative = PurePosixPath(remote.blob_path)
    if relative.is_absolute() or ".." in relative.parts:
        return None, f"refused blob path {remote.blob_path!r}"
    path = volume / relative
    try:
        size = path.stat().st_size
    except OSError as exc:
        return None, f"blob not visible at {path}: {exc.strerror}"
    if size != remote.size:
        return None, f"blob at {path} has {size} bytes, the proxy said {remote.size}"
    return path, f"blob at {path}"


def verify(path: Path, digest: str, tier: NodeTier) -> tuple[bool, str]:
    """True when the blob's bytes hash to ``digest`` (remembered per inode, size and mtime)."""
    st = path.stat()
    if tier.was_verified(digest, st):
        return True, "verified before"
    actual = digest_of(path)
    if actual != digest:
        log.warning("blob on the cache volume does not match its digest; falling back to HTTP",
                    extra={"path": str(path), "expected": digest, "actual": actual})
        return False, f"digest mismatch at {path}: blake3 {actual[:12]}…, the proxy said {digest[:12]}…"
    tier.mark_verified(digest, st)
    return True, "blake3 verified"
