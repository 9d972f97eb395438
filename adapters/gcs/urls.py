"""``gs://`` model URLs: an object, or every object under a prefix, in a Google Cloud Storage bucket.

    gs://bucket[/object-or-prefix]
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from proxy.control.urls import InvalidUrl, UrlGrammar, segments, split_url

BUCKET = re.compile(r"[a-z0-9][a-z0-9_.-]{1,220}[a-z0-9]")
"""GCS bucket names: 3-63 characters (222 with dots, each dot-separated part at most 63)."""


def valid_bucket(name: str) -> bool:
    if not BUCKET.fullmatch(name) or ".." in name:
        return False
    parts = name.split(".")
    return all(0 < len(p) <= 63 for p in parts) and (len(name) <= 63 or "." in name)


@dataclass(frozen=True, slots=True)
class GsUrl:
    bucket: str
    key: str = ""
    """An object name, or a prefix (``""``: the whole bucket)."""

    @property
    def scheme(self) -> str:
        return "gs"

    @property
    def version(self) -> str | None:
        return None

    def __str__(self) -> str:
        return f"gs://{self.bucket}/{self.key}"


def parse(text: str) -> GsUrl:
    scheme, rest = split_url(text)
    if scheme != "gs":
        raise InvalidUrl(f"not a gs:// URL: {text[:100]!r}")
    bucket, _, key = rest.partition("/")
    if not valid_bucket(bucket):
        raise InvalidUrl(f"not a GCS bucket name: {bucket[:100]!r}")
    if key.rstrip("/"):
        segments(key.rstrip("/"), "gs:// object name")
    if "\r" in key or "\n" in key:
        raise InvalidUrl("a GCS object name has no CR or LF")
    return GsUrl(bucket, key)


GRAMMAR = UrlGrammar(("gs",), parse)
