"""The files of a snapshot at one version: an HF repo at a commit (the tree API), an S3 prefix
(ListObjectsV2), a GCS or Azure prefix (the proxy's ``/v1/list``), or the one file of an HTTP URL.
Pattern filters work as in ``huggingface_hub``."""

from __future__ import annotations

import fnmatch
import re
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import quote, urlsplit

from modelmanager_client.errors import ClientError, Offline, ProxyUnavailable
from modelmanager_client.info import DownloadInfo, Provider
from modelmanager_client.remote import NETWORK_ERRORS, connect, get_json, send
from modelmanager_client.routes import api_route, s3_list_route, store_list_route

_S3 = "{http://s3.amazonaws.com/doc/2006-03-01/}"
_NEXT = re.compile(r'<([^>]+)>;\s*rel="next"')


@dataclass(frozen=True, slots=True)
class Entry:
    path: str
    """Relative to the repo root (HF) or to the prefix (S3)."""
    size: int
    etag: str | None = None
    """HF: the blob name in the HF cache (LFS sha256 or git blob id)."""


@dataclass(frozen=True, slots=True)
class Listing:
    version: str
    """HF: the commit; S3 and HTTP: empty."""
    entries: tuple[Entry, ...]


def matches(path: str, allow: Sequence[str] | str | None, ignore: Sequence[str] | str | None) -> bool:
    def norm(patterns: Sequence[str] | str) -> list[str]:
        items = [patterns] if isinstance(patterns, str) else list(patterns)
        return [p + "*" if p.endswith("/") else p for p in items]

    if allow is not None and not any(fnmatch.fnmatch(path, p) for p in norm(allow)):
        return False
    return ignore is None or not any(fnmatch.fnmatch(path, p) for p in norm(ignore))


def list_files(info: DownloadInfo) -> Listing:
    """The files ``info`` names at one version. Raises ProxyUnavailable in HF offline mode
    (``DownloadInfo.offline``): the caller uses the node tier's last listing."""
    if info.offline:
        raise Offline("HF_HUB_OFFLINE is set: only the node tier's last listing is used")
    match info.kind:
        case Provider.HF:
            return _hf(info)
        case Provider.S3:
            return _s3(info)
        case Provider.GCS | Provider.AZURE:
            return _store(info)
        case Provider.HTTP:
            name = urlsplit(info.repo_id).path.rsplit("/", 1)[-1] or "index"
            return Listing("", (Entry(name, -1),))


def _hf(info: DownloadInfo) -> Listing:
    revision = api_route(info, f"revision/{quote(info.revision, safe='')}")
    body, _ = get_json(revision.endpoint, revision.target, revision.headers("GET"))
    commit = body.get("sha") if isinstance(body, dict) else None
    if not isinstance(commit, str):
        raise ClientError(f"{info.repo_id}@{info.revision}: the proxy named no commit")
    tree = api_route(info, f"tree/{commit}", (("recursive", "true"),))
    target: str | None = tree.target
    entries: list[Entry] = []
    while target is not None:
        page, headers = get_json(tree.endpoint, target, tree.headers("GET"))
        if not isinstance(page, list):
            raise ClientError(f"{info.repo_id}: unexpected tree listing")
        for item in page:
            if item.get("type") == "file":
                lfs = item.get("lfs") or {}
                entries.append(Entry(item["path"], int(item.get("size", 0)), lfs.get("oid") or item.get("oid")))
        link = _NEXT.search(headers.get("Link", ""))
        target = _relative(link.group(1)) if link else None
    return Listing(commit, tuple(entries))


def _relative(url: str) -> str:
    parts = urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")


def _store(info: DownloadInfo) -> Listing:
    route = store_list_route(info)
    body, _ = get_json(route.endpoint, route.target, route.headers("GET"))
    files = body.get("files") if isinstance(body, dict) else None
    if not isinstance(files, list):
        raise ClientError(f"{info.repo_id}: the proxy's listing has no files")
    entries = [Entry(f["path"], int(f["size"] or 0)) for f in files
               if isinstance(f, dict) and isinstance(f.get("path"), str) and isinstance(f.get("size"), int | None)]
    return Listing("", tuple(entries))


def _s3(info: DownloadInfo) -> Listing:
    _, prefix = info.s3_location()
    entries: list[Entry] = []
    token: str | None = None
    while True:
        route = s3_list_route(info, token)
        conn = connect(route.endpoint, f"ListObjectsV2 {info.repo_id}")
        try:
            root = ET.fromstring(send(conn, "GET", route.target, route.headers("GET")).read())
        except NETWORK_ERRORS as exc:
            raise ProxyUnavailable(f"ListObjectsV2 {info.repo_id}: {exc}") from exc
        finally:
            conn.close()
        for item in root.iter(f"{_S3}Contents"):
            key = item.findtext(f"{_S3}Key") or ""
            name = key[len(prefix) + 1:] if prefix else key
            if name and not key.endswith("/"):
                entries.append(Entry(name, int(item.findtext(f"{_S3}Size") or 0),
                                     (item.findtext(f"{_S3}ETag") or "").strip('"') or None))
        token = root.findtext(f"{_S3}NextContinuationToken")
        if root.findtext(f"{_S3}IsTruncated") != "true" or not token:
            return Listing("", tuple(entries))
