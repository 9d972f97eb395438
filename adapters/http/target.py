"""Which upstream URLs the generic adapter may fetch, parsed and checked at the edge."""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

from yarl import URL

from proxy.errors import Forbidden, InvalidKey

MAX_URL_LENGTH = 4096


@dataclass(frozen=True, slots=True)
class HostAllowList:
    """Shell patterns over ``host`` or ``host:port``; empty allows nothing."""

    patterns: tuple[str, ...]

    def allows(self, url: URL) -> bool:
        host = (url.host or "").lower().rstrip(".")
        hostport = f"{host}:{url.port}"
        return any(fnmatch.fnmatchcase(hostport if ":" in p else host, p.lower()) for p in self.patterns)

    def check(self, url: URL) -> None:
        if not self.allows(url):
            raise Forbidden(f"upstream host {url.host!r} is not allowed (see --http-allow)")


def parse_target(text: str | None) -> URL:
    """Parse the ``url`` parameter: absolute http(s), no credentials, no dot segments, no controls."""
    if not text:
        raise InvalidKey("missing query parameter 'url'")
    if len(text) > MAX_URL_LENGTH or not text.isprintable() or any(c.isspace() for c in text):
        raise InvalidKey("url is too long or contains control or space characters")
    try:
        parts = urlsplit(text)
        hostname, _ = parts.hostname, parts.port  # both raise ValueError: unbalanced brackets, bad port
    except ValueError as exc:
        raise InvalidKey(f"url does not parse: {exc}") from exc
    if parts.scheme.lower() not in ("http", "https") or not hostname:
        raise InvalidKey("url must be an absolute http:// or https:// URL")
    if parts.username is not None or parts.password is not None:
        raise InvalidKey("url must not carry credentials")
    decoded = unquote(parts.path).replace("\\", "/")  # encoded slashes and backslashes split too
    if "\x00" in decoded or any(segment in (".", "..") for segment in decoded.split("/")):
        raise InvalidKey("url path must not contain dot segments (path traversal)")
    try:
        return URL(text).with_fragment(None)
    except ValueError as exc:
        raise InvalidKey(f"url does not parse: {exc}") from exc


def cache_key(url: URL) -> str:
    return f"http:{url}"
