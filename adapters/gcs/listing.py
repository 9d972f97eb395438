"""The JSON API's objects.list answer, as the port's ``ObjectPage``; and the S3-like ETag of an object.

An object's ETag is its MD5 in quoted hex, as S3 shows a single-part object's, when GCS has an MD5
(every object but composite ones); otherwise ``"g<generation>"``. Either is stable for one version
of the object, and listings, HEAD and GET all show the same one.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from proxy.digest import Checksum
from proxy.errors import InvalidDigest, UpstreamUnavailable
from proxy.objectstore import ObjectPage, StoredObject

EPOCH = datetime.fromtimestamp(0, UTC)


def md5_hex(md5_base64: str | None) -> str | None:
    """The hex MD5 of a base64 ``md5Hash`` / ``x-goog-hash`` value; None when absent or malformed."""
    if not md5_base64:
        return None
    try:
        raw = base64.b64decode(md5_base64, validate=True)
    except (binascii.Error, ValueError):
        return None
    return raw.hex() if len(raw) == 16 else None


def etag(md5_base64: str | None, generation: str | None) -> str:
    md5 = md5_hex(md5_base64)
    if md5 is not None:
        return f'"{md5}"'
    return f'"g{generation or 0}"'


def checksums(md5_base64: str | None, crc32c_base64: str | None) -> tuple[Checksum, ...]:
    """The object's MD5 and CRC32C, as GCS reports them (base64), for verification before commit."""
    found: list[Checksum] = []
    for algorithm, value in (("md5", md5_base64), ("crc32c", crc32c_base64)):
        if value:
            try:
                found.append(Checksum.from_base64(algorithm, value))  # type: ignore[arg-type]
            except InvalidDigest:
                continue
    return tuple(found)


def parse_hash_header(value: str | None) -> dict[str, str]:
    """``x-goog-hash: crc32c=<b64>,md5=<b64>`` (possibly repeated, comma-joined) as a dict."""
    found: dict[str, str] = {}
    for part in (value or "").split(","):
        name, sep, encoded = part.strip().partition("=")
        if sep and name:
            found[name.lower()] = encoded
    return found


def timestamp(text: object) -> datetime:
    """An RFC 3339 time (``updated``); the epoch when absent or malformed."""
    if not isinstance(text, str):
        return EPOCH
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return EPOCH
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def stored_object(item: Mapping[str, Any]) -> StoredObject:
    name = item.get("name")
    size = item.get("size", "0")
    if not isinstance(name, str) or not isinstance(size, (str, int)) or not str(size).isdigit():
        raise UpstreamUnavailable("GCS listing has an object without a name or size")
    md5 = item.get("md5Hash")
    generation = item.get("generation")
    return StoredObject(name, int(size), etag(md5 if isinstance(md5, str) else None,
                                              str(generation) if generation is not None else None),
                        timestamp(item.get("updated")))


def parse_page(body: object, start_after: str | None = None) -> ObjectPage:
    """One objects.list answer. The request's ``startOffset`` is inclusive, S3's StartAfter is not:
    the object named ``start_after`` is left out."""
    if not isinstance(body, dict):
        raise UpstreamUnavailable("GCS listing is not a JSON object")
    items = body.get("items", [])
    prefixes = body.get("prefixes", [])
    token = body.get("nextPageToken")
    if not isinstance(items, list) or not isinstance(prefixes, list) or not all(isinstance(p, str) for p in prefixes):
        raise UpstreamUnavailable("GCS listing has malformed items or prefixes")
    objects = [stored_object(i) for i in items if isinstance(i, dict)]
    if start_after is not None:
        objects = [o for o in objects if o.key != start_after]
    return ObjectPage(tuple(sorted(objects, key=lambda o: o.key)), tuple(sorted(prefixes)),
                      token if isinstance(token, str) and token else None)
