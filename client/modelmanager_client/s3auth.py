"""AWS Signature V4 headers for the proxy's S3 API (header form, unsigned payload), so the client
needs no botocore. Credentials: ``DownloadInfo.token`` as ``ACCESS_KEY:SECRET``, else
``AWS_ACCESS_KEY_ID`` / ``AWS_SECRET_ACCESS_KEY``; with neither, requests go unsigned (an open proxy).
Reference: https://docs.aws.amazon.com/AmazonS3/latest/API/sig-v4-header-based-auth.html
"""

from __future__ import annotations

import hashlib
import hmac
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import quote

UNSIGNED = "UNSIGNED-PAYLOAD"
REGION_ENV = ("AWS_REGION", "AWS_DEFAULT_REGION")


@dataclass(frozen=True, slots=True)
class Credentials:
    access_key: str
    secret: str

    @classmethod
    def find(cls, token: str | None) -> Credentials | None:
        if token and ":" in token:
            key, _, secret = token.partition(":")
            return cls(key, secret)
        env_key, env_secret = os.environ.get("AWS_ACCESS_KEY_ID"), os.environ.get("AWS_SECRET_ACCESS_KEY")
        return cls(env_key, env_secret) if env_key and env_secret else None


def _hmac(key: bytes, text: str) -> bytes:
    return hmac.new(key, text.encode(), hashlib.sha256).digest()


def _encode(text: str) -> str:
    return quote(text, safe="-_.~")


def sign(creds: Credentials, method: str, netloc: str, path: str, query: list[tuple[str, str]],
         now: datetime | None = None) -> dict[str, str]:
    """The headers that sign ``method path?query`` (``path`` already percent-encoded, as sent)."""
    now = now or datetime.now(UTC)
    amz_date, day = now.strftime("%Y%m%dT%H%M%SZ"), now.strftime("%Y%m%d")
    region = next((os.environ[n] for n in REGION_ENV if os.environ.get(n)), "us-east-1")
    headers = {"host": netloc, "x-amz-content-sha256": UNSIGNED, "x-amz-date": amz_date}
    signed = ";".join(sorted(headers))
    canonical = "\n".join([
        method, path or "/", "&".join(f"{_encode(k)}={_encode(v)}" for k, v in sorted(query)),
        "".join(f"{k}:{headers[k]}\n" for k in sorted(headers)), signed, UNSIGNED])
    scope = f"{day}/{region}/s3/aws4_request"
    to_sign = "\n".join(["AWS4-HMAC-SHA256", amz_date, scope, hashlib.sha256(canonical.encode()).hexdigest()])
    key = _hmac(_hmac(_hmac(_hmac(f"AWS4{creds.secret}".encode(), day), region), "s3"), "aws4_request")
    signature = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    return {"x-amz-content-sha256": UNSIGNED, "x-amz-date": amz_date,
            "Authorization": f"AWS4-HMAC-SHA256 Credential={creds.access_key}/{scope}, "
                             f"SignedHeaders={signed}, Signature={signature}"}
