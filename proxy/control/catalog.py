"""The catalog port: how the core enumerates what a model URL names, without knowing any protocol.

Each adapter implements ``Catalog`` for its schemes (``hf://``, ``s3://``, ``https://``), with the
grammar that parses their URLs (``proxy.control.urls``). Given a parsed URL it lists the files at
one immutable version, with a ``Source`` per file whose key is the one the adapter's routes use (so
prefetches and live requests coalesce into one fill), and it reports the version the upstream
names now. Prefetch jobs, pins and watches use only this port; ``Catalogs`` finds a URL's catalog
by its scheme.
"""

from __future__ import annotations

import fnmatch
import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from proxy.control.urls import InvalidUrl, ModelUrl, UrlGrammar, split_url
from proxy.errors import Forbidden, UpstreamUnavailable
from proxy.objectstore import ObjectStore, StoredObject
from proxy.upstream import Source


@dataclass(frozen=True, slots=True)
class SnapshotFile:
    path: str
    """Relative to the URL's root (a repo's root, an S3 prefix), for allow/ignore patterns."""
    size: int | None
    source: Source
    max_age: float | None
    """What the adapter's route passes to ``Cache.resolve`` (None: an immutable file)."""


@dataclass(frozen=True, slots=True)
class Snapshot:
    url: ModelUrl
    version: str
    """The immutable version listed: a commit sha, an S3 listing's fingerprint, ``latest``."""
    files: tuple[SnapshotFile, ...]
    prefixes: tuple[str, ...]
    """Index key prefixes a pin of this version keeps."""
    public: bool = False
    """The upstream said anyone may read this version (HF: neither private nor gated)."""

    def select(self, allow: Sequence[str] = (), ignore: Sequence[str] = ()) -> tuple[SnapshotFile, ...]:
        """Files matching any ``allow`` pattern (all when empty) and no ``ignore`` pattern.

        Shell patterns as ``huggingface_hub`` uses them: a pattern ending in ``/`` means the folder.
        """
        allow = [_folder(p) for p in allow]
        ignore = [_folder(p) for p in ignore]
        return tuple(f for f in self.files
                     if (not allow or any(fnmatch.fnmatch(f.path, p) for p in allow))
                     and not any(fnmatch.fnmatch(f.path, p) for p in ignore))


def _folder(pattern: str) -> str:
    return pattern + "*" if pattern.endswith("/") else pattern


class Catalog(Protocol):
    @property
    def grammar(self) -> UrlGrammar:
        """The schemes this catalog lists and how their URLs parse."""
        ...

    @property
    def watchable(self) -> bool:
        """Whether its URLs name something that changes version (a branch, a prefix) and can be
        watched; a plain file URL cannot."""
        ...

    async def snapshot(self, url: ModelUrl, token: str | None) -> Snapshot:
        """Resolve ``url`` to an immutable version and list its files. ``token``: the caller's
        upstream credential where the protocol has one (an HF token), else None."""
        ...

    async def current(self, url: ModelUrl) -> str:
        """The version the upstream names now (a branch's head commit, an S3 listing's
        fingerprint). Raises Forbidden for URLs that cannot be watched."""
        ...

    def hold(self, url: ModelUrl, version: str | None, public: bool) -> None:
        """Serve ``version`` as what ``url`` names (e.g. a branch's head) until told otherwise;
        None releases the hold. ``public``: the snapshot said anyone may read it, so anonymous
        clients may be served it while the upstream cannot be asked (offline). A catalog whose
        protocol has no such indirection ignores it."""
        ...


class Catalogs:
    """The catalogs of the configured adapters, by scheme, and the URL grammars of every scheme known."""

    def __init__(self, catalogs: Sequence[Catalog], known: Sequence[UrlGrammar] = ()) -> None:
        """``known``: grammars of adapters that may not be configured here; their URLs parse, and
        using one is refused (Forbidden) rather than called a bad URL."""
        self._grammars: dict[str, UrlGrammar] = {}
        self._catalogs: dict[str, Catalog] = {}
        for grammar in known:
            self._grammars.update(dict.fromkeys(grammar.schemes, grammar))
        for catalog in catalogs:
            self._grammars.update(dict.fromkeys(catalog.grammar.schemes, catalog.grammar))
            self._catalogs.update(dict.fromkeys(catalog.grammar.schemes, catalog))

    def parse(self, text: str) -> ModelUrl:
        """Parse a model URL with its scheme's grammar; raise InvalidUrl with a message a person can act on."""
        scheme, _ = split_url(text)
        grammar = self._grammars.get(scheme)
        if grammar is None:
            known = [f"{s}://" for s in self._grammars]
            use = ", ".join(known[:-1]) + f" or {known[-1]}" if len(known) > 1 else "".join(known)
            raise InvalidUrl(f"unknown scheme {scheme!r}: use {use}")
        return grammar.parse(text)

    def for_url(self, url: ModelUrl) -> Catalog:
        catalog = self._catalogs.get(url.scheme)
        if catalog is None:
            raise Forbidden(f"no adapter for {url.scheme}:// URLs is configured on this proxy")
        return catalog


STORE_PAGES = 10_000
"""A store listing with more pages than this is refused (a runaway or hostile upstream)."""


class StoreCatalog:
    """The catalog of an object-store scheme (``s3://``, ``gs://``, ``az://``): ``locate`` gives the
    store and the key a parsed URL names; an object, or every object under a prefix as a folder
    (``store_snapshot``). Watchable: the version changes when any object is added, removed or
    replaced."""

    watchable = True

    def __init__(self, grammar: UrlGrammar, locate: Callable[[ModelUrl], tuple[ObjectStore, str]],
                 revalidate_after: float, page_size: int = 1000) -> None:
        self.grammar = grammar
        self._locate = locate
        self._revalidate_after = revalidate_after
        self._page_size = page_size

    def hold(self, url: ModelUrl, version: str | None, public: bool) -> None:
        """Objects are not versioned through the proxy: nothing to hold."""

    async def current(self, url: ModelUrl) -> str:
        return (await self.snapshot(url, None)).version

    async def snapshot(self, url: ModelUrl, token: str | None) -> Snapshot:
        store, key = self._locate(url)
        return await store_snapshot(url, store, key, self._revalidate_after, self._page_size)


async def store_snapshot(url: ModelUrl, store: ObjectStore, key: str, revalidate_after: float,
                         page_size: int = 1000) -> Snapshot:
    """What ``url`` names in an object store (S3, GCS, Azure): the object ``key``, or every object
    under it as a folder. The version is a fingerprint of the (name, ETag) pairs, so a watch sees
    any object added, removed or replaced; the pin prefix is the store's own cache key for it."""
    listed = await list_store(store, key, page_size)
    exact = [o for o in listed if o.key == key]
    if key and not key.endswith("/"):
        if exact:
            listed, root = exact, key.rpartition("/")[0]
        else:
            root = key
            listed = [o for o in listed if o.key.startswith(key + "/")]
    else:
        root = key.rstrip("/")
    fingerprint = hashlib.sha256("\n".join(f"{o.key}\t{o.etag}" for o in listed).encode()).hexdigest()
    start = len(root) + 1 if root else 0
    files = tuple(SnapshotFile(o.key[start:], o.size, store.source(o.key), revalidate_after) for o in listed)
    prefix = store.source(key if exact and key else (root + "/" if root else "")).key
    return Snapshot(url, fingerprint[:32], files, (prefix,))


async def list_store(store: ObjectStore, prefix: str, page_size: int = 1000) -> list[StoredObject]:
    """Every object under ``prefix``, in key order."""
    found: list[StoredObject] = []
    token: str | None = None
    for _ in range(STORE_PAGES):
        page = await store.list(prefix, None, token, page_size)
        found.extend(page.objects)
        token = page.next_token
        if token is None:
            return sorted(found, key=lambda o: o.key)
    raise UpstreamUnavailable(f"{store.label} listing has too many pages")
