"""Where an S3 request points: bucket and key, from path-style or virtual-hosted addressing.

Path-style (``/<bucket>/<key>``) is what botocore, the aws CLI and s3fs send when an endpoint URL
is configured; it is served under ``/s3/`` on the main port and at the root of the dedicated S3
port. Virtual-hosted style (``Host: <bucket>.<suffix>``) is recognised on the dedicated port when
a suffix is configured. The key is the raw path decoded exactly once: ``+`` is a literal plus.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import unquote

from proxy.errors import InvalidKey

PREFIX = "/s3"
MAX_KEY_BYTES = 1024
_BUCKET = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,254}")


@dataclass(frozen=True, slots=True)
class Target:
    """``bucket`` None: the service (ListBuckets); ``key`` None: the bucket itself."""

    bucket: str | None
    key: str | None

    @property
    def resource(self) -> str:
        return "/" + "/".join(p for p in (self.bucket, self.key) if p is not None)


def origin_form(request_target: str) -> str:
    """The request target as a path: clients such as the AWS CRT (runai-model-streamer) send the
    absolute form ``http://host:port/bucket/key`` (RFC 9112 §3.2.2)."""
    scheme, sep, rest = request_target.partition("://")
    if sep and scheme.lower() in ("http", "https") and "/" not in scheme:
        authority_end = rest.find("/")
        return "/" if authority_end < 0 else rest[authority_end:]
    return request_target


def raw_path_only(raw_path: str) -> str:
    return raw_path.partition("?")[0]


def parse(raw_path: str, host: str, *, prefixed: bool, virtual_host_suffix: str | None) -> Target:
    """Raise InvalidKey for paths that cannot name an S3 object (or would escape a bucket)."""
    path = raw_path_only(raw_path)
    if prefixed:
        if path != PREFIX and not path.startswith(PREFIX + "/"):
            raise InvalidKey(f"not an S3 path: {path[:80]!r}")
        path = path[len(PREFIX):]
    bucket = _virtual_bucket(host, virtual_host_suffix) if not prefixed else None
    if bucket is not None:
        return Target(_check_bucket(bucket), _key(path[1:]) if len(path) > 1 else None)
    name, _, rest = path.lstrip("/").partition("/")
    if not name:
        return Target(None, None)
    return Target(_check_bucket(unquote(name)), _key(rest) if rest else None)


def _virtual_bucket(host: str, suffix: str | None) -> str | None:
    if not suffix:
        return None
    hostname = host.rsplit(":", 1)[0] if not host.endswith("]") else host
    hostname = hostname.lower().rstrip(".")
    tail = "." + suffix.lower().strip(".")
    return hostname[: -len(tail)] if hostname.endswith(tail) and len(hostname) > len(tail) else None


def _check_bucket(name: str) -> str:
    if not _BUCKET.fullmatch(name):
        raise InvalidKey(f"not a valid bucket name: {name[:80]!r}")
    return name


def _key(raw: str) -> str:
    try:
        key = unquote(raw, errors="strict")
    except UnicodeDecodeError:
        raise InvalidKey("the key is not UTF-8 after percent-decoding") from None
    if len(key.encode()) > MAX_KEY_BYTES or not key.isprintable():
        raise InvalidKey("key too long or contains control characters")
    if any(segment in (".", "..") for segment in key.split("/")):
        raise InvalidKey("keys with '.' or '..' segments are refused (an upstream might normalise them)")
    return key
