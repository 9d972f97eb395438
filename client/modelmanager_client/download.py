"""``modelmanager_download`` (one file) and ``modelmanager_snapshot`` (a repo or prefix at one
version): the node tier first, then the files placed where the caller reads them (HF cache
layout, ``local_dir``, or a per-provider tree), as hard links of the node tier's blobs."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path
from urllib.parse import urlsplit

from modelmanager_client import hfcache
from modelmanager_client.errors import ProxyUnavailable
from modelmanager_client.fetch import Fetched, fetch, locate
from modelmanager_client.info import STORE_SCHEMES, DownloadInfo, Provider
from modelmanager_client.listing import Entry, Listing, list_files, matches
from modelmanager_client.node import NodeTier
from modelmanager_client.places import http_place, link_or_copy, s3_folder, s3_place, safe_relative

log = logging.getLogger(__name__)

OnBytes = Callable[[int], None] | None


def modelmanager_download(info: DownloadInfo, *, cache_dir: str | Path | None = None,
                          local_dir: str | Path | None = None, force: bool = False) -> str:
    """One file through the proxy; returns its local path (in the HF cache layout for HuggingFace)."""
    tier = NodeTier()
    path = download(info, cache_dir=cache_dir, local_dir=local_dir, force=force, tier=tier)
    tier.maybe_prune()
    return str(path)


def modelmanager_snapshot(info: DownloadInfo, *, allow_patterns: Sequence[str] | str | None = None,
                          ignore_patterns: Sequence[str] | str | None = None, cache_dir: str | Path | None = None,
                          local_dir: str | Path | None = None, max_workers: int = 8) -> str:
    """Every file of a repo at one revision (or of an S3 prefix); returns the folder that holds them."""
    tier = NodeTier()
    folder = snapshot(info, allow_patterns=allow_patterns, ignore_patterns=ignore_patterns, cache_dir=cache_dir,
                      local_dir=local_dir, max_workers=max_workers, tier=tier)
    tier.maybe_prune()
    return str(folder)


def download(info: DownloadInfo, *, cache_dir: str | Path | None = None, local_dir: str | Path | None = None,
             force: bool = False, tier: NodeTier | None = None, on_bytes: OnBytes = None) -> Path:
    tier = tier or NodeTier()
    hf_cache = Path(cache_dir) if cache_dir else hfcache.default_cache_dir()
    if info.kind is Provider.HF and not local_dir and not force:
        try:
            remote, route = locate(info)
        except ProxyUnavailable:
            pass  # the node tier may hold it: fetch() looks
        else:
            etag, commit = remote.etag, remote.commit
            if etag and commit and hfcache.has_blob(hf_cache, info.repo_type, info.repo_id, etag, remote.size):
                hfcache.write_ref(hf_cache, info.repo_type, info.repo_id, info.revision, commit)
                return hfcache.place(hf_cache, info.repo_type, info.repo_id, commit, info.filename or "", etag, None)
            return _place(info, fetch(info, tier, on_bytes=on_bytes, located=(remote, route)), cache_dir,
                          local_dir, tier)
    return _place(info, fetch(info, tier, force=force, on_bytes=on_bytes), cache_dir, local_dir, tier)


def _place(info: DownloadInfo, got: Fetched, cache_dir: str | Path | None, local_dir: str | Path | None,
           tier: NodeTier) -> Path:
    name = info.filename or urlsplit(info.repo_id).path.rsplit("/", 1)[-1] or "index"
    if local_dir:
        target = Path(local_dir) / safe_relative(name)
        link_or_copy(got.blob, target)
        return target
    match info.kind:
        case Provider.HF:
            cache = Path(cache_dir) if cache_dir else hfcache.default_cache_dir()
            commit = got.commit or info.revision
            hfcache.write_ref(cache, info.repo_type, info.repo_id, info.revision, commit)
            return hfcache.place(cache, info.repo_type, info.repo_id, commit, name, got.etag or got.digest,
                                 got.blob)
        case Provider.S3 | Provider.GCS | Provider.AZURE:
            target = s3_place(Path(cache_dir) if cache_dir else tier.root / "files", *info.s3_key(),
                              scheme=STORE_SCHEMES[info.kind])
        case Provider.HTTP:
            target = http_place(Path(cache_dir) if cache_dir else tier.root / "files", info.repo_id)
    link_or_copy(got.blob, target)
    return target


def snapshot(info: DownloadInfo, *, allow_patterns: Sequence[str] | str | None = None,
             ignore_patterns: Sequence[str] | str | None = None, cache_dir: str | Path | None = None,
             local_dir: str | Path | None = None, max_workers: int = 8, tier: NodeTier | None = None,
             on_bytes: OnBytes = None) -> Path:
    tier = tier or NodeTier()
    listing = _listing(info, tier)
    entries = [e for e in listing.entries if matches(e.path, allow_patterns, ignore_patterns)]
    pinned = replace(info, revision=listing.version) if listing.version else info
    root = _snapshot_root(info, listing, cache_dir, local_dir, tier)
    hf_cache = Path(cache_dir) if cache_dir else hfcache.default_cache_dir()

    def one(entry: Entry) -> None:
        file = pinned.with_file(entry.path)
        if info.kind is Provider.HF and not local_dir:
            if entry.etag and hfcache.has_blob(hf_cache, info.repo_type, info.repo_id, entry.etag, entry.size):
                hfcache.place(hf_cache, info.repo_type, info.repo_id, listing.version, entry.path, entry.etag, None)
                return
            _place(file, fetch(file, tier, on_bytes=on_bytes), hf_cache, None, tier)
            return
        got = fetch(file, tier, on_bytes=on_bytes)
        link_or_copy(got.blob, root / safe_relative(entry.path))

    with ThreadPoolExecutor(max(1, max_workers), thread_name_prefix="mm-snapshot") as pool:
        for _ in pool.map(one, entries):
            pass
    if info.kind is Provider.HF and not local_dir:
        hfcache.write_ref(hf_cache, info.repo_type, info.repo_id, info.revision, listing.version)
    return root


def _listing(info: DownloadInfo, tier: NodeTier) -> Listing:
    try:
        listing = list_files(info)
    except ProxyUnavailable:
        held = tier.listing(info.key())
        if held is None:
            raise
        if not info.offline:
            log.warning("proxy unreachable: using the node tier's last listing", extra={"key": info.key()})
        return Listing(held[0], tuple(Entry(p, s, e) for p, s, e in held[1]))
    tier.save_listing(info.key(), listing.version, [(e.path, e.size, e.etag) for e in listing.entries])
    return listing


def _snapshot_root(info: DownloadInfo, listing: Listing, cache_dir: str | Path | None,
                   local_dir: str | Path | None, tier: NodeTier) -> Path:
    if local_dir:
        return Path(local_dir)
    base = Path(cache_dir) if cache_dir else None
    match info.kind:
        case Provider.HF:
            cache = base or hfcache.default_cache_dir()
            return hfcache.repo_folder(cache, info.repo_type, info.repo_id) / "snapshots" / listing.version
        case Provider.S3 | Provider.GCS | Provider.AZURE:
            return s3_folder(base or tier.root / "files", *info.s3_location(), scheme=STORE_SCHEMES[info.kind])
        case Provider.HTTP:
            return http_place(base or tier.root / "files", info.repo_id).parent
