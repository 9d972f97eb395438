"""Model URLs as the core knows them: opaque values, each parsed by the adapter that owns its scheme.

Operators name models by URL in the control API and the CLI (``hf://org/repo@rev``,
``s3://bucket/prefix``, ``https://host/file``). The core checks only what every model URL shares, a
printable ``scheme://rest``; the grammar of each scheme lives with its adapter, which registers it
with its catalog (``proxy.control.catalog.Catalogs``). What the core keeps is the parsed value: its
scheme, its canonical text (the id of pins and watches) and the version it names, if any.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from proxy.errors import InvalidKey

MAX_URL = 4096


class InvalidUrl(InvalidKey):
    """A model URL that does not parse."""


class ModelUrl(Protocol):
    """A model URL as its adapter parsed it. ``str()`` is the canonical text."""

    @property
    def scheme(self) -> str:
        """Lower case, without ``://``."""
        ...

    @property
    def version(self) -> str | None:
        """The version the URL names (an ``@revision``); None: whatever the upstream names now."""
        ...


@dataclass(frozen=True, slots=True)
class UrlGrammar:
    """How an adapter parses the URLs of its ``schemes`` (lower case)."""

    schemes: tuple[str, ...]
    parse: Callable[[str], ModelUrl]
    """Raises InvalidUrl with a message a person can act on."""


def split_url(text: str) -> tuple[str, str]:
    """``(scheme, rest)`` of ``scheme://rest``, scheme lower-cased; InvalidUrl when it is not that shape."""
    if not text or len(text) > MAX_URL or not text.isprintable():
        raise InvalidUrl("a URL is a non-empty printable string")
    scheme, sep, rest = text.partition("://")
    if not sep:
        raise InvalidUrl(f"not a URL (hf://, s3:// or https://): {text[:100]!r}")
    return scheme.lower(), rest


def segments(path: str, what: str) -> list[str]:
    """``path`` split at ``/``; InvalidUrl when a segment is empty, ``.`` or ``..`` (or it has a backslash)."""
    parts = path.split("/")
    if any(p in ("", ".", "..") for p in parts) or "\\" in path:
        raise InvalidUrl(f"{what} has an empty or dot segment: {path[:100]!r}")
    return parts
