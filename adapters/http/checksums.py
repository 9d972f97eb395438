"""Checksums an HTTP upstream announces for the whole representation.

``Repr-Digest`` (RFC 9530: ``sha-256=:<base64>:``), the older ``Digest`` (RFC 3230:
``SHA-256=<base64>``) and ``Content-MD5`` (RFC 1864). Unknown algorithms are ignored; a value
that does not decode is ignored too (it cannot be verified, so it cannot protect anything).
"""

from __future__ import annotations

from collections.abc import Mapping

from proxy.digest import Checksum, ChecksumAlgorithm
from proxy.errors import InvalidDigest

_NAMES: dict[str, ChecksumAlgorithm] = {"sha-256": "sha256", "sha256": "sha256", "md5": "md5", "sha": "sha1"}


def _pairs(header: str) -> list[tuple[str, str]]:
    out = []
    for item in header.split(","):
        name, sep, value = item.strip().partition("=")
        if sep:
            out.append((name.strip().lower(), value.strip()))
    return out


def checksums_from(headers: Mapping[str, str]) -> tuple[Checksum, ...]:
    found: dict[ChecksumAlgorithm, Checksum] = {}
    candidates: list[tuple[str, str]] = []
    if repr_digest := headers.get("Repr-Digest"):
        candidates += [(n, v.strip(":")) for n, v in _pairs(repr_digest) if v.startswith(":")]
    if digest := headers.get("Digest"):
        candidates += _pairs(digest)
    if md5 := headers.get("Content-MD5"):
        candidates.append(("md5", md5.strip()))
    for name, value in candidates:
        algorithm = _NAMES.get(name)
        if algorithm is None or algorithm in found:
            continue
        try:
            found[algorithm] = Checksum.from_base64(algorithm, value)
        except InvalidDigest:
            continue
    return tuple(found.values())
