"""``s3://`` model URLs: an object, or every object under a prefix.

    s3://bucket[/key-or-prefix]
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from proxy.control.urls import InvalidUrl, UrlGrammar, segments, split_url

_BUCKET = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")


@dataclass(frozen=True, slots=True)
class S3Url:
    bucket: str
    key: str = ""
    """An object key, or a prefix (``""``: the whole bucket)."""

    @property
    def scheme(self) -> str:
        return "s3"

    @property
    def version(self) -> str | None:
        return None

    def __str__(self) -> str:
        return f"s3://{self.bucket}/{self.key}"


def parse(text: str) -> S3Url:
    _, rest = split_url(text)
    bucket, _, key = rest.partition("/")
    if not _BUCKET.fullmatch(bucket) or ".." in bucket:
        raise InvalidUrl(f"not a bucket name: {bucket[:100]!r}")
    if key.rstrip("/"):
        segments(key.rstrip("/"), "s3:// key")
    return S3Url(bucket, key)


GRAMMAR = UrlGrammar(("s3",), parse)
