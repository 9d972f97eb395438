"""Everything the Hub's wire format knows: header names, the error table, Xet stripping."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from multidict import CIMultiDict
from yarl import URL

from proxy.errors import (
    Answered,
    FillFailed,
    Forbidden,
    InsufficientStorage,
    IntegrityError,
    InvalidCredentials,
    InvalidDigest,
    InvalidKey,
    PreconditionFailed,
    ProxyError,
    RangeNotSatisfiable,
    Unmodified,
    UpstreamChanged,
    UpstreamRejected,
    UpstreamUnavailable,
)

REPO_COMMIT = "X-Repo-Commit"
LINKED_ETAG = "X-Linked-Etag"
LINKED_SIZE = "X-Linked-Size"
ERROR_CODE = "X-Error-Code"
ERROR_MESSAGE = "X-Error-Message"
STALE_WARNING = 'Warning'

# Headers of an upstream error response a client needs to raise the same exception.
PASSTHROUGH_ERROR_HEADERS = (ERROR_CODE, ERROR_MESSAGE, REPO_COMMIT, "X-Request-Id", "WWW-Authenticate",
                             "Retry-After", "RateLimit", "RateLimit-Policy")
XET_HEADERS = ("X-Xet-Hash", "X-Xet-Refresh-Route", "X-Xet-Cas-Url", "X-Xet-Access-Token",
               "X-Xet-Token-Expiration", "X-Xet-Endpoint", "X-Xet-Expiration")
_XET_REL = re.compile(r'rel="?xet-', re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class HfError:
    status: int
    code: str | None


HF_ERRORS: Mapping[type[ProxyError], HfError] = {
    InvalidKey: HfError(400, "BadRequest"),
    InvalidDigest: HfError(400, "BadRequest"),
    Forbidden: HfError(403, "Forbidden"),
    InvalidCredentials: HfError(401, None),
    UpstreamUnavailable: HfError(502, None),
    InsufficientStorage: HfError(507, None),
    UpstreamChanged: HfError(502, None),
    IntegrityError: HfError(502, None),
    FillFailed: HfError(502, None),
}


ANSWERED: Mapping[type[Answered], int] = {Unmodified: 304, PreconditionFailed: 412, RangeNotSatisfiable: 416}
"""Outcomes of the request's own conditions: the status, with the representation's headers and no body."""


def error(status: int, code: str | None, message: str, extra: Mapping[str, str] | None = None) -> web.Response:
    headers = {ERROR_MESSAGE: message, **(extra or {})}
    if code:
        headers[ERROR_CODE] = code
    return web.Response(status=status, text=json.dumps({"error": message}), content_type="application/json",
                        headers=headers)


def error_response(exc: ProxyError) -> web.Response:
    if isinstance(exc, Answered):
        return web.Response(status=ANSWERED[type(exc)], headers=exc.headers)
    if isinstance(exc, UpstreamRejected):
        headers = dict(exc.headers)
        headers["X-Upstream-Status"] = str(exc.status)
        return web.Response(status=exc.status, body=exc.body, headers={"Content-Type": exc.content_type, **headers})
    mapped = next((e for cls, e in HF_ERRORS.items() if isinstance(exc, cls)), HfError(500, None))
    return error(mapped.status, mapped.code, str(exc))


def rejection(status: int, headers: Mapping[str, str], body: bytes) -> UpstreamRejected:
    """An upstream error answer, kept with exactly what the client needs to see."""
    kept = tuple((h, headers[h]) for h in PASSTHROUGH_ERROR_HEADERS if h in headers)
    return UpstreamRejected(status, body[:64 * 1024], headers.get("Content-Type", "application/json"), kept)


def strip_xet_links(link: str) -> str:
    """Drop the ``rel="xet-..."`` parts of a Link header, keeping the rest (e.g. ``rel="next"``)."""
    parts = [p.strip() for p in re.split(r",(?=\s*<)", link)]
    return ", ".join(p for p in parts if p and not _XET_REL.search(p))


def strip_xet_json(value: Any) -> Any:
    """Remove ``xetHash`` from tree / paths-info entries so clients never switch to Xet."""
    if isinstance(value, list):
        return [strip_xet_json(v) for v in value]
    if isinstance(value, dict):
        return {k: strip_xet_json(v) for k, v in value.items() if k != "xetHash"}
    return value


def clean_headers(headers: Mapping[str, str]) -> CIMultiDict[str]:
    out: CIMultiDict[str] = CIMultiDict()
    for name, value in headers.items():
        if name.title() in {h.title() for h in XET_HEADERS}:
            continue
        if name.lower() == "link":
            value = strip_xet_links(value)
            if not value:
                continue
        out.add(name, value)
    return out


HUB_ORIGINS = ("https://huggingface.co", "https://hf.co")


def rewrite_origins(header: str, upstream: URL, proxy_origin: URL) -> str:
    """Point URLs on the upstream (or the public Hub) at the proxy, so clients never leave it."""
    mine = str(proxy_origin).rstrip("/")
    for origin in (str(upstream.origin()).rstrip("/"), *HUB_ORIGINS):
        header = header.replace(f"<{origin}/", f"<{mine}/")
    return header
