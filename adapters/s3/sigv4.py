"""AWS Signature Version 4 for S3: canonical requests, signing, and the two client auth forms.

Pure functions over strings (no aiohttp, no clock): ``sign`` produces the headers for an upstream
request; ``parse_header_auth`` and ``parse_query_auth`` read what a client sent, and
``signature`` recomputes it for comparison. The canonicalisation is S3's: the URI path is
percent-encoded once (no dot-segment normalisation, no double encoding), query names and values
are encoded with everything except ``A-Za-z0-9-_.~`` and sorted, header values are trimmed.
Reference: https://docs.aws.amazon.com/AmazonS3/latest/API/sig-v4-header-based-auth.html
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import quote, unquote

ALGORITHM = "AWS4-HMAC-SHA256"
UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD"
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
AMZ_DATE_FORMAT = "%Y%m%dT%H%M%SZ"
SIGNATURE_PARAM = "X-Amz-Signature"


class MalformedAuth(ValueError):
    """The client's Authorization header or presigned query does not parse."""


@dataclass(frozen=True, slots=True)
class Scope:
    """``<date>/<region>/s3/aws4_request``."""

    date: str
    region: str
    service: str = "s3"

    def __str__(self) -> str:
        return f"{self.date}/{self.region}/{self.service}/aws4_request"


@dataclass(frozen=True, slots=True)
class ClientAuth:
    """What a client claims: who, when, which headers it signed, and the signature."""

    access_key: str
    scope: Scope
    amz_date: str
    signed_headers: tuple[str, ...]
    signature: str
    payload_hash: str
    expires: int | None = None
    """Seconds from ``amz_date`` for a presigned URL; None for header auth."""

    @property
    def timestamp(self) -> datetime:
        try:
            return datetime.strptime(self.amz_date, AMZ_DATE_FORMAT).replace(tzinfo=UTC)
        except ValueError as exc:
            raise MalformedAuth(f"bad X-Amz-Date {self.amz_date!r}") from exc


def uri_encode(text: str, *, keep_slash: bool) -> str:
    return quote(text, safe="/-_.~" if keep_slash else "-_.~")


def canonical_uri(raw_path: str) -> str:
    """The path as the client sent it, decoded once and re-encoded the AWS way."""
    return uri_encode(unquote(raw_path), keep_slash=True) or "/"


def query_pairs(raw_query: str) -> list[tuple[str, str]]:
    """Decode a raw query string into pairs; ``?uploads`` gives ``("uploads", "")``."""
    pairs = []
    for part in raw_query.split("&"):
        if not part:
            continue
        name, _, value = part.partition("=")
        pairs.append((unquote(name.replace("+", "%20")), unquote(value.replace("+", "%20"))))
    return pairs


def canonical_query(pairs: Iterable[tuple[str, str]]) -> str:
    encoded = sorted((uri_encode(k, keep_slash=False), uri_encode(v, keep_slash=False)) for k, v in pairs)
    return "&".join(f"{k}={v}" for k, v in encoded)


def _header_value(value: str) -> str:
    return " ".join(value.split())


def canonical_request(method: str, uri: str, query: str, headers: Mapping[str, str],
                      signed: Sequence[str], payload_hash: str) -> str:
    """``headers`` must be keyed by lowercase name; every name in ``signed`` must be present."""
    lines = "".join(f"{name}:{_header_value(headers[name])}\n" for name in signed)
    return "\n".join([method, uri, query, lines, ";".join(signed), payload_hash])


def string_to_sign(amz_date: str, scope: Scope, canonical: str) -> str:
    return "\n".join([ALGORITHM, amz_date, str(scope), hashlib.sha256(canonical.encode()).hexdigest()])


def _hmac(key: bytes, msg: str) -> bytes:
    return hmac.new(key, msg.encode(), hashlib.sha256).digest()


def signature(secret: str, scope: Scope, to_sign: str) -> str:
    key = _hmac(("AWS4" + secret).encode(), scope.date)
    for part in (scope.region, scope.service, "aws4_request"):
        key = _hmac(key, part)
    return hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()


@dataclass(frozen=True, slots=True)
class Credentials:
    access_key: str
    secret_key: str
    session_token: str | None = None


def sign(method: str, host: str, raw_path: str, pairs: Iterable[tuple[str, str]], headers: Mapping[str, str],
         credentials: Credentials, region: str, now: datetime,
         payload_hash: str = EMPTY_SHA256) -> dict[str, str]:
    """Headers for an upstream request: ``headers`` plus Host, X-Amz-*, Authorization.

    Every header passed in is signed, so pass only what the upstream must see unchanged. The
    request must be sent with exactly ``raw_path`` and ``canonical_query(pairs)`` on the wire.
    """
    amz_date = now.astimezone(UTC).strftime(AMZ_DATE_FORMAT)
    out = dict(headers)
    out.update({"Host": host, "X-Amz-Date": amz_date, "X-Amz-Content-SHA256": payload_hash})
    if credentials.session_token:
        out["X-Amz-Security-Token"] = credentials.session_token
    lower = {k.lower(): v for k, v in out.items()}
    signed = sorted(lower)
    scope = Scope(amz_date[:8], region)
    canonical = canonical_request(method, canonical_uri(raw_path), canonical_query(pairs), lower, signed,
                                  payload_hash)
    sig = signature(credentials.secret_key, scope, string_to_sign(amz_date, scope, canonical))
    out["Authorization"] = (f"{ALGORITHM} Credential={credentials.access_key}/{scope}, "
                            f"SignedHeaders={';'.join(signed)}, Signature={sig}")
    return out


def _scope(credential: str) -> tuple[str, Scope]:
    parts = credential.split("/")
    if len(parts) != 5 or parts[4] != "aws4_request" or not parts[0]:
        raise MalformedAuth(f"bad credential scope {credential!r}")
    return parts[0], Scope(parts[1], parts[2], parts[3])


def parse_header_auth(authorization: str, headers: Mapping[str, str]) -> ClientAuth:
    """Read ``Authorization: AWS4-HMAC-SHA256 Credential=…, SignedHeaders=…, Signature=…``."""
    algorithm, _, rest = authorization.strip().partition(" ")
    if algorithm != ALGORITHM:
        raise MalformedAuth(f"unsupported authorization algorithm {algorithm!r}")
    fields = {}
    for item in rest.split(","):
        name, sep, value = item.strip().partition("=")
        if sep:
            fields[name] = value
    try:
        access_key, scope = _scope(fields["Credential"])
        signed = tuple(fields["SignedHeaders"].split(";"))
        sig = fields["Signature"]
    except KeyError as exc:
        raise MalformedAuth(f"authorization header lacks {exc}") from exc
    amz_date = headers.get("x-amz-date") or ""
    payload = headers.get("x-amz-content-sha256") or ""
    if not payload:
        raise MalformedAuth("missing x-amz-content-sha256")
    return ClientAuth(access_key, scope, amz_date, signed, sig, payload)


def parse_query_auth(pairs: Sequence[tuple[str, str]]) -> ClientAuth:
    """Read a presigned URL's ``X-Amz-*`` query parameters."""
    q = dict(pairs)
    if q.get("X-Amz-Algorithm") != ALGORITHM:
        raise MalformedAuth("unsupported X-Amz-Algorithm")
    try:
        access_key, scope = _scope(q["X-Amz-Credential"])
        expires = int(q["X-Amz-Expires"])
        return ClientAuth(access_key, scope, q["X-Amz-Date"], tuple(q["X-Amz-SignedHeaders"].split(";")),
                          q[SIGNATURE_PARAM], UNSIGNED_PAYLOAD, expires)
    except (KeyError, ValueError) as exc:
        raise MalformedAuth(f"presigned query lacks or mangles {exc}") from exc


def expected_signature(auth: ClientAuth, secret: str, method: str, raw_path: str,
                       pairs: Sequence[tuple[str, str]], headers: Mapping[str, str]) -> str:
    """The signature the client should have sent. ``headers`` keyed by lowercase name."""
    if "host" not in auth.signed_headers:
        raise MalformedAuth("SignedHeaders must include host")  # SigV4 requires it: binds the signature to us
    if any(name not in headers for name in auth.signed_headers):
        raise MalformedAuth("a signed header is missing from the request")
    query = canonical_query((k, v) for k, v in pairs if k != SIGNATURE_PARAM)
    canonical = canonical_request(method, canonical_uri(raw_path), query, headers, auth.signed_headers,
                                  auth.payload_hash)
    return signature(secret, auth.scope, string_to_sign(auth.amz_date, auth.scope, canonical))
