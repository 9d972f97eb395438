"""One file into the node tier: ask the proxy what it is, reuse what the node holds, else transfer
it once per node (under the node-wide lock), verify it, and remember what it resolved to."""

from __future__ import annotations

import gc
import logging
import mmap
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from modelmanager_client import handoff
from modelmanager_client.errors import IntegrityError, Offline, ProxyUnavailable
from modelmanager_client.info import DownloadInfo, Provider
from modelmanager_client.node import NodeTier, Ref
from modelmanager_client.ranged import RangeSource, read_all
from modelmanager_client.remote import RemoteFile, head
from modelmanager_client.routes import Route, file_route
from modelmanager_client.transport import Choice, connections, open_source, report

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Fetched:
    blob: Path
    """The node tier's copy (read-only; link it, never write to it)."""
    digest: str
    size: int
    etag: str | None
    commit: str | None
    choice: Choice


def locate(info: DownloadInfo) -> tuple[RemoteFile, Route]:
    """HEAD the file on the proxy; the route returned is pinned to the commit for HF. Raises
    ProxyUnavailable in HF offline mode (``DownloadInfo.offline``): callers use the node tier."""
    if info.offline:
        raise Offline("HF_HUB_OFFLINE is set: only the node tier's copies are used")
    route = file_route(info)
    remote = head(route.endpoint, route.target, route.headers("HEAD"))
    if info.kind is Provider.HF and remote.commit:
        route = file_route(info, revision=remote.commit)
    return remote, route


def fetch(info: DownloadInfo, tier: NodeTier, *, force: bool = False,
          on_bytes: Callable[[int], None] | None = None,
          located: tuple[RemoteFile, Route] | None = None) -> Fetched:
    """``info``'s file in the node tier. ``located``: what ``locate`` answered, if already asked."""
    key = info.key()
    try:
        remote, route = located or locate(info)
    except ProxyUnavailable as exc:
        return _offline(info, tier, exc)
    if not force and (held := _held(tier, key, remote)) is not None:
        return held
    with tier.lock(f"{key}#{remote.commit}#{remote.etag}#{remote.size}"):
        if not force and (held := _held(tier, key, remote)) is not None:
            return held  # another process on this node fetched it while we waited
        fetched = _transfer(remote, route, tier, on_bytes)
        # under the lock: a process waiting for it finds the ref (a cold file has no digest yet)
        tier.save_ref(Ref(key, fetched.digest, fetched.size, remote.etag, remote.commit))
    report(key, fetched.choice)
    return fetched


def _held(tier: NodeTier, key: str, remote: RemoteFile) -> Fetched | None:
    """The node tier's blob for ``remote``: by the digest the proxy named, else by what ``key``
    resolved to last time if it is the same version (etag, commit, size)."""
    digest = remote.digest
    if digest is None:
        ref = tier.ref(key)
        same = ref is not None and (ref.etag, ref.commit, ref.size) == (remote.etag, remote.commit, remote.size)
        if ref is None or not same or (remote.etag is None and remote.commit is None):
            return None
        digest = ref.digest
    path = tier.get(digest, remote.size)
    if path is None:
        return None
    fetched = Fetched(path, digest, remote.size, remote.etag, remote.commit, Choice("node", f"node tier {path}"))
    report(key, fetched.choice)
    return fetched


def _offline(info: DownloadInfo, tier: NodeTier, error: ProxyUnavailable) -> Fetched:
    key = info.key()
    ref = tier.ref(key)
    if ref is None and info.filename:  # a branch or tag: the commit the node tier's last listing of it named
        listed = tier.listing(replace(info, filename=None).key())
        if listed is not None and listed[0]:
            ref = tier.ref(replace(info, revision=listed[0]).key())
    path = tier.get(ref.digest, ref.size) if ref is not None else None
    if ref is None or path is None:
        raise error
    if not isinstance(error, Offline):
        log.warning("proxy unreachable: using the node tier's copy", extra={"key": key, "error": str(error)})
    why = str(error) if isinstance(error, Offline) else f"proxy unreachable: {error}"
    fetched = Fetched(path, ref.digest, ref.size, ref.etag, ref.commit, Choice("node", f"node tier {path}", (why,)))
    report(key, fetched.choice)
    return fetched


def _transfer(remote: RemoteFile, route: Route, tier: NodeTier,
              on_bytes: Callable[[int], None] | None) -> Fetched:
    skip: str | None = None
    while True:
        source, choice = open_source(remote, route, tier, verify=False, skip_handoff=skip, on_bytes=on_bytes)
        if choice.name == "node":
            source.close()
            digest = remote.digest or ""
            return Fetched(tier.blob(digest), digest, remote.size, remote.etag, remote.commit, choice)
        tmp = tier.tmp_file()
        try:
            started = time.perf_counter()
            try:
                write_file(source, tmp)
            finally:
                source.close()
            choice = choice.timed(source, remote.size, time.perf_counter() - started)
            digest = handoff.digest_of(tmp)
            if remote.digest is not None and digest != remote.digest:
                why = f"digest mismatch: blake3 {digest[:12]}…, the proxy said {remote.digest[:12]}…"
                if choice.name == "handoff":
                    log.warning("blob on the cache volume is corrupt; falling back to HTTP",
                                extra={"target": remote.target, "why": why})
                    skip = why
                    continue
                raise IntegrityError(f"{remote.target}: {why}")
            return Fetched(tier.commit(tmp, digest), digest, remote.size, remote.etag, remote.commit, choice)
        finally:
            tmp.unlink(missing_ok=True)


def write_file(source: RangeSource, path: Path) -> None:
    """``source``'s bytes into a new file at ``path``, ranges in parallel straight into its pages."""
    with open(path, "wb+") as file:
        if source.size == 0:
            return
        file.truncate(source.size)
        mapped = mmap.mmap(file.fileno(), source.size)
        view = memoryview(mapped)
        try:
            read_all(source, view, connections())
        finally:
            _unmap(mapped, view)


def _unmap(mapped: mmap.mmap, view: memoryview) -> None:
    """Release the view and unmap. A transport that gave up mid-range (a UCX receive cancelled
    when its sidecar died) may still hold a slice of the mapping; then the mapping goes when
    that slice is collected. Whatever it could still write is the same blob's bytes at the same
    offsets."""
    for attempt in range(2):
        try:
            view.release()
            mapped.close()
            return
        except BufferError:
            if attempt == 0:
                gc.collect()
