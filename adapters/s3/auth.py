"""Who may use the S3 API: the configured client key pairs, and the check of each request's SigV4.

Both forms are accepted: the ``Authorization`` header, and a presigned URL (``X-Amz-*`` query
parameters). The signature is recomputed over the request exactly as received (raw path, raw
query, header values) and compared in constant time. Client signatures are never forwarded: the
upstream request is signed again with the proxy's own credentials (``adapters.s3.upstream``).
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from pydantic import SecretStr

from adapters.s3 import sigv4
from adapters.s3.wire import (
    ACCESS_DENIED,
    BAD_DIGEST,
    EXPIRED,
    INVALID_ACCESS_KEY_ID,
    MALFORMED_AUTH,
    REQUEST_TIME_TOO_SKEWED,
    SIGNATURE_DOES_NOT_MATCH,
    S3Fault,
)

MAX_SKEW = timedelta(minutes=15)
MAX_PRESIGNED_EXPIRY = 7 * 24 * 3600


@dataclass(frozen=True, slots=True)
class ClientKeys:
    """Access key id -> secret. Empty means the S3 API is open (no signature is checked)."""

    secrets: Mapping[str, SecretStr]

    @property
    def open(self) -> bool:
        return not self.secrets

    def secret(self, access_key: str) -> str | None:
        found = self.secrets.get(access_key)
        return found.get_secret_value() if found is not None else None

    @classmethod
    def parse(cls, pairs: str, file: Path | None = None) -> ClientKeys:
        """``access:secret`` pairs, comma- or newline-separated, from a string and/or a file."""
        text = pairs + "\n" + (file.read_text() if file is not None else "")
        found: dict[str, SecretStr] = {}
        for item in text.replace(",", "\n").splitlines():
            item = item.strip()
            if not item or item.startswith("#"):
                continue
            access, sep, secret = item.partition(":")
            if not sep or not access.strip() or not secret.strip():
                raise ValueError("S3 client keys must be access:secret pairs")
            found[access.strip()] = SecretStr(secret.strip())
        return cls(found)


@dataclass(frozen=True, slots=True)
class SignedRequest:
    """The parts of a client request the signature covers, as received."""

    method: str
    raw_path: str
    """The path as sent, percent-encoding intact, without the query."""
    query: list[tuple[str, str]]
    headers: Mapping[str, str]
    """Keyed by lowercase name."""


def authenticate(keys: ClientKeys, request: SignedRequest, now: datetime) -> str | None:
    """Return the access key the request is signed with (None when the API is open).

    Raises S3Fault: InvalidAccessKeyId, SignatureDoesNotMatch, RequestTimeTooSkewed,
    AccessDenied (expired or unsigned), AuthorizationHeaderMalformed.
    """
    if keys.open:
        return None
    try:
        auth = _claimed(request)
        secret = keys.secret(auth.access_key)
        if secret is None:
            raise S3Fault(INVALID_ACCESS_KEY_ID)
        _check_time(auth, now)
        expected = sigv4.expected_signature(auth, secret, request.method, request.raw_path, request.query,
                                            request.headers)
    except sigv4.MalformedAuth as exc:
        raise S3Fault(MALFORMED_AUTH, str(exc)) from exc
    # Bytes, not str: compare_digest refuses non-ASCII text (a client-chosen signature).
    if not hmac.compare_digest(expected.encode(), auth.signature.encode("utf-8", "surrogateescape")):
        raise S3Fault(SIGNATURE_DOES_NOT_MATCH)
    return auth.access_key


def _claimed(request: SignedRequest) -> sigv4.ClientAuth:
    header = request.headers.get("authorization")
    if header is not None:
        return sigv4.parse_header_auth(header, request.headers)
    if any(name == "X-Amz-Signature" for name, _ in request.query):
        return sigv4.parse_query_auth(request.query)
    raise S3Fault(ACCESS_DENIED, "Anonymous access is not allowed: sign requests with a configured key")


def _check_time(auth: sigv4.ClientAuth, now: datetime) -> None:
    if not auth.amz_date.startswith(auth.scope.date):
        raise sigv4.MalformedAuth("X-Amz-Date does not match the credential scope date")
    signed_at = auth.timestamp
    if auth.expires is None:
        if abs(now - signed_at) > MAX_SKEW:
            raise S3Fault(REQUEST_TIME_TOO_SKEWED)
        return
    if not 0 < auth.expires <= MAX_PRESIGNED_EXPIRY:
        raise sigv4.MalformedAuth("X-Amz-Expires out of range")
    if now > signed_at + timedelta(seconds=auth.expires) or signed_at - now > MAX_SKEW:
        raise S3Fault(EXPIRED)


def check_payload(headers: Mapping[str, str], body: bytes) -> None:
    """For a request whose body was read whole: a hex x-amz-content-sha256 must match it."""
    claimed = headers.get("x-amz-content-sha256", sigv4.UNSIGNED_PAYLOAD)
    if len(claimed) == 64 and hashlib.sha256(body).hexdigest() != claimed.lower():
        raise S3Fault(BAD_DIGEST)
