"""A build request's sources as blob digests: given as digests, or as model URLs fetched through the cache.

A source is ``blake3:<hex>`` (a blob already on the volume) or a model URL (``hf://``, ``s3://``,
``http(s)://``) that the adapters' catalogs resolve to an immutable version; each of its files is
fetched through the cache as a prefetch would (one fill per file, whoever else asks for it), and
its blob digest becomes a source, in path order. A URL naming a whole snapshot (a repo, a prefix)
contributes every file of it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass

from proxy.control.catalog import Catalogs
from proxy.digest import Digest
from proxy.errors import InvalidDigest, InvalidKey
from proxy.read.core import Core
from proxy.read.driver import Cache


@dataclass(frozen=True, slots=True)
class Resolved:
    digests: tuple[Digest, ...]
    names: tuple[str, ...]
    """File names the recipe sees (a URL's file paths; a bare digest's name, if one was given)."""


def as_digest(text: str) -> Digest | None:
    try:
        return Digest.parse(text)
    except InvalidDigest:
        return None


async def resolve(specs: Sequence[str], names: Sequence[str], catalogs: Catalogs | None, core: Core, cache: Cache,
                  token: str | None) -> Resolved:
    """Raises InvalidKey (a digest that is not cached, a bad URL), or the fill's error."""
    digests: list[Digest] = []
    found: list[str] = []
    for i, spec in enumerate(specs):
        digest = as_digest(spec)
        if digest is not None:
            if await _stat(cache, digest) is None:
                raise InvalidKey(f"source {digest} is not on the cache volume: name it by URL to fetch it")
            digests.append(digest)
            found.append(names[i] if i < len(names) else digest.hex)
            continue
        if catalogs is None:
            raise InvalidKey(f"source {spec[:200]!r} is not a blake3 digest")
        url = catalogs.parse(spec)
        snapshot = await catalogs.for_url(url).snapshot(url, token)
        for file in sorted(snapshot.files, key=lambda f: f.path):
            prefetched = await core.prefetch(file.source, file.max_age)
            entry = await cache.peek(prefetched.cached.key) if prefetched.cached is not None else None
            if entry is None:
                raise InvalidKey(f"{file.path} of {spec[:200]} could not be cached")
            digests.append(entry.digest)
            found.append(file.path)
    return Resolved(tuple(digests), tuple(found))


async def _stat(cache: Cache, digest: Digest) -> object:
    return await asyncio.get_running_loop().run_in_executor(None, cache.store.stat, digest)
