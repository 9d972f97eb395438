"""The generic adapter's error table: domain errors -> HTTP status and a JSON body."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from aiohttp import web

from proxy.errors import (
    FillFailed,
    Forbidden,
    IntegrityError,
    InvalidDigest,
    InvalidKey,
    ProxyError,
    UpstreamChanged,
    UpstreamRejected,
    UpstreamUnavailable,
)


@dataclass(frozen=True, slots=True)
class HttpError:
    status: int
    code: str


HTTP_ERRORS: Mapping[type[ProxyError], HttpError] = {
    InvalidKey: HttpError(400, "InvalidURL"),
    InvalidDigest: HttpError(400, "InvalidDigest"),
    Forbidden: HttpError(403, "HostNotAllowed"),
    UpstreamUnavailable: HttpError(502, "UpstreamUnavailable"),
    UpstreamChanged: HttpError(502, "UpstreamChanged"),
    IntegrityError: HttpError(502, "IntegrityError"),
    FillFailed: HttpError(502, "FillFailed"),
}
FALLBACK = HttpError(500, "InternalError")


def error_response(exc: ProxyError) -> web.Response:
    if isinstance(exc, UpstreamRejected):
        # Passed through as the upstream said it, marked so operators can tell it from ours.
        return web.Response(status=exc.status, body=exc.body, headers={
            "Content-Type": exc.content_type, "X-Upstream-Status": str(exc.status)})
    error = next((e for cls, e in HTTP_ERRORS.items() if isinstance(exc, cls)), FALLBACK)
    return web.json_response({"error": error.code, "message": str(exc)}, status=error.status,
                             headers={"X-Error-Code": error.code})
