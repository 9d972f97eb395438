"""The on-disk layout of the cache volume. The only module that turns names into paths.

::

    <cache-dir>/
      blobs/
        <aa>/<blake3 hex>        committed blob: the file's bytes, read-only, named by its blake3
                                 digest (64 hex); <aa> is the digest's first two hex characters
      index/
        <aa>/<sha256(key) hex>.json
                                 one index record per upstream identity (key), e.g. "http:<url>",
                                 written whole to a temp file and renamed into place
      tmp/
        <node-id>/               this node's in-progress fills and record writes; a crash leaves
          fill-<random>          files here, removed when a node with the same id starts. In a
                                 cluster, the node that takes over a fill moves the fill's temp
                                 file into its own directory and continues it; what no node
                                 takes up is removed by an eviction pass once nobody has
                                 written it for --abandoned-tmp-age (another node's dir)
      pins/<sha256(id) hex>.json
                                 one pin record (a URL at a version, the key prefixes it keeps)
      watches/<sha256(id) hex>.json
                                 one watched URL (interval, grace, the version it serves)
      builds/<sha256(key) hex>.json
                                 one requested build of a derived artifact (pending, building or
                                 failed with its log tail); removed once the artifact is stored
      builders/<sha256(name) hex>.json
                                 a build worker seen lately: the recipes it runs, for which targets
      admin-token                the control API's bearer token, when --admin-token is unset
      cluster-secret             what pods present to each other (cluster mode, --cluster-secret unset)
                                 both generated at first start, mode 0600 (see proxy/credentials.py)

Every rename goes from ``tmp/`` to ``blobs/`` or ``index/`` on the same filesystem, so each commit
is atomic; a reader sees either nothing or a complete file. Nothing under ``blobs/`` or ``index/``
is ever written in place. Keys are hashed before they become file names, so no key can name a
path outside ``index/``.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

from proxy.digest import Digest
from proxy.errors import InvalidKey

CONTROL_KINDS = ("pins", "watches", "builds", "builders")
SECRET_NAMES = ("admin-token", "cluster-secret")
_NODE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,62}")


@dataclass(frozen=True, slots=True)
class Layout:
    root: Path

    @property
    def blobs(self) -> Path:
        return self.root / "blobs"

    @property
    def index(self) -> Path:
        return self.root / "index"

    @property
    def tmp_root(self) -> Path:
        """The parent of every node's tmp dir."""
        return self.root / "tmp"

    def tmp(self, node_id: str) -> Path:
        if not _NODE_ID.fullmatch(node_id):
            raise InvalidKey(f"node id must match {_NODE_ID.pattern}: {node_id!r}")
        return self.tmp_root / node_id

    def blob(self, digest: Digest) -> Path:
        return self.root / self.blob_name(digest)

    @staticmethod
    def blob_name(digest: Digest) -> str:
        """A blob's path relative to the cache volume (what clients that mount the volume are told)."""
        return f"blobs/{digest.hex[:2]}/{digest.hex}"

    def record(self, key: str) -> Path:
        name = hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()
        return self.index / name[:2] / f"{name}.json"

    def control(self, kind: str, record_id: str) -> Path:
        """A control record (``kind``: ``pins``, ``watches``, ``builds``, ``builders``), named by its id's hash."""
        if kind not in CONTROL_KINDS:
            raise InvalidKey(f"not a control record kind: {kind!r}")
        return self.root / kind / f"{hashlib.sha256(record_id.encode()).hexdigest()}.json"

    def secret(self, name: str) -> Path:
        """A secret the proxy generated for itself (``admin-token`` or ``cluster-secret``)."""
        if name not in SECRET_NAMES:
            raise InvalidKey(f"not a secret name: {name!r}")
        return self.root / name

    def fill_tmp(self, text: str) -> Path | None:
        """``text`` (``.../tmp/<node-id>/fill-<hex>``) as that fill temp file's path in this node's
        view of the volume, or None if it names anything else (paths learned from other nodes are
        checked here before they are opened or moved). Only the last three parts count: other
        pods may mount the volume somewhere else."""
        path = Path(text)
        if (path.parent.parent.name != "tmp" or not _NODE_ID.fullmatch(path.parent.name)
                or not re.fullmatch(r"fill-[0-9a-f]{24}", path.name)):
            return None
        return self.tmp_root / path.parent.name / path.name

    def ensure(self, node_id: str) -> None:
        for path in (self.blobs, self.index, self.tmp(node_id)):
            path.mkdir(parents=True, exist_ok=True)

    def digest_of(self, path: Path) -> Digest | None:
        """The digest a path under ``blobs/`` names, or None for a stray file."""
        try:
            digest = Digest(path.name)
        except ValueError:
            return None
        return digest if path.parent.name == digest.hex[:2] else None
