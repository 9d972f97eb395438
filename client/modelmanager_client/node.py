"""The node-local tier: a short-lived, content-addressed store on the node's own disk, shared by
every process on the node. The only module that knows its layout::

    <root>/                         MODELMANAGER_CLIENT_CACHE (default ~/.cache/modelmanager-client)
      blobs/<aa>/<blake3 hex>       a file's bytes, read-only, named by its blake3 digest; hard-linked
                                    into HF cache layouts and local dirs (stored once)
      refs/<aa>/<sha256(key)>.json  what a file identity (provider, repo, revision, path) resolved to:
                                    digest, size, etag, commit; lets a file be found with the proxy down
      verified/<blake3 hex>.json    a blob on the proxy's volume already verified (its inode and mtime)
      locks/<name>.lock             one download per file per node (file locks on node-local disk)
      tmp/                          downloads in progress (same filesystem as blobs/, renamed in)

Bounded by ``MODELMANAGER_CLIENT_CACHE_MAX_BYTES`` and ``MODELMANAGER_CLIENT_CACHE_TTL`` seconds
since last use; ``prune`` drops expired blobs, then the least recently used (each use touches the
blob's mtime) until the total fits; every download does so when no process on the node has in
the last minute.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from filelock import FileLock, Timeout

ROOT_ENV = "MODELMANAGER_CLIENT_CACHE"
MAX_BYTES_ENV = "MODELMANAGER_CLIENT_CACHE_MAX_BYTES"
TTL_ENV = "MODELMANAGER_CLIENT_CACHE_TTL"
DEFAULT_MAX_BYTES = 200 << 30
DEFAULT_TTL = 24 * 3600.0
PRUNE_EVERY = 60.0


def default_root() -> Path:
    if root := os.environ.get(ROOT_ENV):
        return Path(root)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "modelmanager-client"


@dataclass(frozen=True, slots=True)
class Ref:
    """What a file identity resolved to, the last time the proxy was asked."""

    key: str
    digest: str
    size: int
    etag: str | None = None
    commit: str | None = None
    saved_at: float = 0.0


@dataclass(frozen=True, slots=True)
class Pruned:
    removed: int
    freed: int
    kept: int
    kept_bytes: int


LOCK_AGE = 86400.0
"""Seconds since a lock file was last taken before a prune removes it (taking a lock truncates
the file: its mtime is the last use)."""


class NodeTier:
    def __init__(self, root: Path | None = None, max_bytes: int | None = None, ttl: float | None = None) -> None:
        self.root = root or default_root()
        self.max_bytes = max_bytes if max_bytes is not None else int(os.environ.get(MAX_BYTES_ENV, DEFAULT_MAX_BYTES))
        self.ttl = ttl if ttl is not None else float(os.environ.get(TTL_ENV, DEFAULT_TTL))
        for sub in ("blobs", "refs", "verified", "locks", "tmp"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)

    # -- blobs ------------------------------------------------------------------------------

    def blob(self, digest: str) -> Path:
        return self.root / "blobs" / digest[:2] / digest

    def get(self, digest: str, size: int | None = None) -> Path | None:
        """The blob if held (and of ``size``), marked as used now; None otherwise."""
        path = self.blob(digest)
        try:
            st = path.stat()
        except FileNotFoundError:
            return None
        if size is not None and st.st_size != size:
            return None
        with contextlib.suppress(OSError):
            os.utime(path)
        return path

    def tmp_file(self) -> Path:
        return self.root / "tmp" / f"{os.getpid()}-{os.urandom(8).hex()}"

    def commit(self, tmp: Path, digest: str) -> Path:
        """Move a verified temp file into place as ``digest`` (a concurrent identical commit wins harmlessly)."""
        path = self.blob(digest)
        path.parent.mkdir(exist_ok=True)
        os.chmod(tmp, 0o444)
        os.replace(tmp, path)
        return path

    def lock(self, name: str) -> FileLock:
        """The node-wide lock for one file identity."""
        return FileLock(str(self.root / "locks" / f"{hashlib.sha256(name.encode()).hexdigest()[:40]}.lock"))

    # -- refs -------------------------------------------------------------------------------

    def _ref_path(self, key: str) -> Path:
        name = hashlib.sha256(key.encode()).hexdigest()
        return self.root / "refs" / name[:2] / f"{name}.json"

    def ref(self, key: str) -> Ref | None:
        try:
            return Ref(**json.loads(self._ref_path(key).read_text()))
        except (FileNotFoundError, ValueError, TypeError):
            return None

    def save_ref(self, ref: Ref) -> None:
        self._write_json(self._ref_path(ref.key), asdict(ref) | {"saved_at": time.time()})

    def save_listing(self, key: str, version: str, entries: list[tuple[str, int, str | None]]) -> None:
        """A snapshot's file list, for ``modelmanager_snapshot`` with the proxy down."""
        self._write_json(self._ref_path(f"listing:{key}"), {"version": version, "entries": entries})

    def listing(self, key: str) -> tuple[str, list[tuple[str, int, str | None]]] | None:
        try:
            data = json.loads(self._ref_path(f"listing:{key}").read_text())
            return str(data["version"]), [(str(p), int(s), e) for p, s, e in data["entries"]]
        except (FileNotFoundError, ValueError, KeyError, TypeError):
            return None

    def _write_json(self, path: Path, data: dict[str, Any]) -> None:
        path.parent.mkdir(exist_ok=True)
        tmp = self.tmp_file()
        tmp.write_text(json.dumps(data))
        os.replace(tmp, path)

    # -- verified blobs on the proxy's volume ------------------------------------------------

    def was_verified(self, digest: str, st: os.stat_result) -> bool:
        """True when the proxy's blob with this inode, size and mtime was verified before."""
        try:
            seen = json.loads((self.root / "verified" / f"{digest}.json").read_text())
        except (FileNotFoundError, ValueError):
            return False
        return bool(seen == _identity(st))

    def mark_verified(self, digest: str, st: os.stat_result) -> None:
        self._write_json(self.root / "verified" / f"{digest}.json", _identity(st))

    # -- pruning ----------------------------------------------------------------------------

    def blobs(self) -> Iterator[tuple[Path, os.stat_result]]:
        for folder in (self.root / "blobs").iterdir():
            for path in folder.iterdir():
                with contextlib.suppress(FileNotFoundError):
                    yield path, path.stat()

    def prune(self, max_bytes: int | None = None, ttl: float | None = None, now: float | None = None) -> Pruned:
        """Drop blobs unused for ``ttl`` seconds, then the least recently used until the rest fits."""
        max_bytes = self.max_bytes if max_bytes is None else max_bytes
        ttl = self.ttl if ttl is None else ttl
        now = time.time() if now is None else now
        held = sorted(self.blobs(), key=lambda item: item[1].st_mtime, reverse=True)
        total, removed, freed = sum(st.st_size for _, st in held), 0, 0
        for path, st in reversed(held):
            if now - st.st_mtime <= ttl and total <= max_bytes:
                break
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
                removed += 1
                freed += st.st_size
            total -= st.st_size
        self._sweep(now, ttl)
        return Pruned(removed, freed, len(held) - removed, total)

    def maybe_prune(self, every: float = PRUNE_EVERY) -> Pruned | None:
        """``prune`` if no process on this node pruned in the last ``every`` seconds (a marker
        file's mtime says when); called after each download, so the bounds hold without a daemon."""
        marker = self.root / "pruned"
        try:
            if time.time() - marker.stat().st_mtime < every:
                return None
        except FileNotFoundError:
            pass
        marker.touch()
        return self.prune()

    def _sweep(self, now: float, ttl: float) -> None:
        """Refs, verification marks and abandoned temp files older than ``ttl``; lock files not
        taken for ``max(ttl, LOCK_AGE)`` (one per file version ever fetched, else they pile up)."""
        for sub in ("refs", "verified", "tmp"):
            for path in (self.root / sub).rglob("*"):
                with contextlib.suppress(FileNotFoundError):
                    if path.is_file() and now - path.stat().st_mtime > max(ttl, 3600.0 if sub == "tmp" else 0):
                        path.unlink()
        for path in (self.root / "locks").glob("*.lock"):
            with contextlib.suppress(FileNotFoundError, Timeout):
                if now - path.stat().st_mtime > max(ttl, LOCK_AGE):
                    with FileLock(str(path), timeout=0):  # held by a download right now: kept
                        path.unlink()


def _identity(st: os.stat_result) -> dict[str, int]:
    return {"dev": st.st_dev, "ino": st.st_ino, "size": st.st_size, "mtime_ns": st.st_mtime_ns}
