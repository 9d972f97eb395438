"""Artifacts on the cache volume: blobs like any other, indexed under ``artifact:<key hex>``.

An upload is streamed into a temp blob while it is hashed; ``commit`` checks the declared size and
blake3 digest before the blob is renamed into place, and only then is the index record written.
A wrong digest, a short body or a key that does not match the manifest leaves nothing behind.
Because they are ordinary index entries, artifacts are kept by ``gc``, evicted by the same quota,
listed by ``modelmanager ls`` and counted in ``/v1/status``.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterable
from dataclasses import dataclass

from proxy.artifacts.key import NAMESPACE, Manifest, index_key, names_of
from proxy.digest import Digest
from proxy.errors import IntegrityError
from proxy.read.driver import Cache
from proxy.storage.index import IndexEntry
from proxy.storage.writer import Expectation
from proxy.upstream import ObjectMeta, Validators

CONTENT_TYPE = "application/octet-stream"


@dataclass(frozen=True, slots=True)
class Artifact:
    entry: IndexEntry
    manifest: Manifest

    @property
    def key(self) -> Digest:
        return self.manifest.key

    def to_json(self) -> dict[str, object]:
        return {"key": self.key.hex, "digest": str(self.entry.digest), "size": self.entry.size,
                "created_at": self.entry.fetched_at, **self.manifest.canonical(), "names": list(names_of(self.entry))}


class ArtifactStore:
    def __init__(self, cache: Cache) -> None:
        self.cache = cache

    async def get(self, key: Digest) -> Artifact | None:
        """The artifact stored under ``key`` when its blob is on the volume."""
        entry = await self.cache.peek(index_key(key))
        if entry is None:
            return None
        manifest = Manifest.of_entry(entry)
        return Artifact(entry, manifest) if manifest is not None else None

    async def put(self, manifest: Manifest, names: tuple[str, ...], size: int, digest: Digest,
                  body: AsyncIterable[bytes]) -> Artifact:
        """Store an upload: raises IntegrityError (size or digest wrong), InsufficientStorage."""
        writer = self.cache.store.create(Expectation(size=size, digest=digest))
        try:
            async for chunk in body:
                if writer.written + len(chunk) > size:
                    raise IntegrityError(f"size mismatch: the body is longer than the declared {size} bytes")
                await writer.write(chunk)
            blob = await writer.commit()
        finally:
            await writer.cancel()
        meta = ObjectMeta(size=size, content_type=CONTENT_TYPE, validators=Validators(f'"{digest.hex}"', None),
                          immutable=True, attributes=tuple(manifest.extra(names).items()))
        entry = await self.cache.admit(manifest.index_key, blob, meta)
        return Artifact(entry, manifest)

    async def find(self, source: Digest | None = None, recipe: str | None = None) -> list[Artifact]:
        """Every stored artifact, or those made from ``source`` and/or by ``recipe``."""
        entries = await asyncio.get_running_loop().run_in_executor(None, self._entries)
        found = []
        for entry in entries:
            manifest = Manifest.of_entry(entry)
            if manifest is None:
                continue
            if source is not None and source not in manifest.sources:
                continue
            if recipe is not None and manifest.recipe.name != recipe:
                continue
            found.append(Artifact(entry, manifest))
        return sorted(found, key=lambda a: (a.manifest.recipe.name, a.entry.fetched_at))

    async def measure(self) -> None:
        """Set the ``artifacts`` and ``artifacts_bytes`` gauges (before each scrape of ``/metrics``)."""
        stored = await self.find()
        self.cache.metrics.artifacts.set(len(stored))
        self.cache.metrics.artifacts_bytes.set(sum(a.entry.size for a in stored))

    def _entries(self) -> list[IndexEntry]:
        return [e for e in self.cache.index.entries() if e.key.startswith(NAMESPACE)]
