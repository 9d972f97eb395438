"""One version of a model, from the proxy's cache into a directory: every file of the source that
the patterns select, as

1. a hard link of the proxy's blob when its cache volume is mounted here on the same filesystem
   (the blob's size and blake3 are checked first, once per inode: see ``handoff``);
2. else a hard link of the node tier's copy (fetched once per node, verified against the digest
   the proxy named);
3. else a copy, whose blake3 is checked against that digest before it counts.

Blobs are read-only and never rewritten, so a hard link cannot change under Triton; when the proxy
evicts a blob, the repository's link keeps its bytes.
"""

from __future__ import annotations

import errno
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from modelmanager_client import handoff
from modelmanager_client.errors import ClientError, IntegrityError
from modelmanager_client.fetch import fetch, locate
from modelmanager_client.info import DownloadInfo, Provider
from modelmanager_client.listing import list_files, matches
from modelmanager_client.node import NodeTier
from modelmanager_client.places import safe_relative
from modelmanager_client.triton.models import ModelSpec

_CROSS_DEVICE = (errno.EXDEV, errno.EPERM, errno.EMLINK, errno.ENOTSUP)


@dataclass(frozen=True, slots=True)
class Placed:
    path: str
    """Inside the version directory."""
    size: int
    digest: str
    """blake3 hex."""
    how: str
    """``volume-link``, ``node-link`` or ``copy``."""


@dataclass(frozen=True, slots=True)
class Plan:
    """The files of one version as the proxy lists them now."""

    info: DownloadInfo
    """Pinned to the version listed (the commit for HF)."""
    version: str
    """HF: the commit; S3: the listed ETags and sizes; HTTP: ``blake3:<digest>`` of the file as the
    proxy holds it, empty while it does not (then the file is laid out and its digest recorded)."""
    files: tuple[tuple[str, str], ...]
    """(path in the source, path in the version directory)."""


def plan(info: DownloadInfo, spec: ModelSpec) -> Plan:
    """List the source through the proxy and choose the files."""
    listing = list_files(info)
    chosen = [e for e in listing.entries if matches(e.path, spec.files, spec.exclude or None)]
    if not chosen:
        raise ClientError(f"{info.repo_id}: no file matches {spec.files} (exclude {spec.exclude})")
    if listing.version:
        version = listing.version
    elif info.kind is Provider.HTTP:  # one file: its content, once the proxy holds it (unknown before)
        remote, _ = locate(info.with_file(chosen[0].path))
        version = f"blake3:{remote.digest}" if remote.digest else ""
    else:
        version = ",".join(sorted(f"{e.path}={e.etag}:{e.size}" for e in chosen))
    pinned = replace(info, revision=listing.version) if listing.version else info
    return Plan(pinned, version, tuple((e.path, str(safe_relative(spec.target(e.path)))) for e in chosen))


def lay_out(plan: Plan, folder: Path, tier: NodeTier,
            on_file: Callable[[Placed], None] | None = None) -> list[Placed]:
    """Every file of ``plan`` into ``folder`` (which is created)."""
    folder.mkdir(parents=True, exist_ok=True)
    placed = []
    for source_path, target in plan.files:
        one = place(plan.info.with_file(source_path), folder / target, target, tier)
        placed.append(one)
        if on_file is not None:
            on_file(one)
    return placed


def place(info: DownloadInfo, target: Path, name: str, tier: NodeTier) -> Placed:
    """One file at ``target`` (a new path), by the cheapest verified way."""
    target.parent.mkdir(parents=True, exist_ok=True)
    remote, route = locate(info)
    if remote.digest is not None:
        blob, _ = handoff.locate(remote, handoff.mount())
        if blob is not None and handoff.verify(blob, remote.digest, tier)[0] and _link(blob, target):
            return Placed(name, remote.size, remote.digest, "volume-link")
    got = fetch(info, tier, located=(remote, route))
    if _link(got.blob, target):
        return Placed(name, got.size, got.digest, "node-link")
    shutil.copyfile(got.blob, target)
    actual = handoff.digest_of(target)
    if actual != got.digest or target.stat().st_size != got.size:
        target.unlink(missing_ok=True)
        raise IntegrityError(f"{name}: the copy does not match blake3 {got.digest[:12]}…")
    return Placed(name, got.size, got.digest, "copy")


def _link(source: Path, target: Path) -> bool:
    try:
        os.link(source, target)
    except OSError as exc:
        if exc.errno in _CROSS_DEVICE:
            return False
        raise
    return True
