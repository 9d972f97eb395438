"""The generic adapter's error table: domain errors -> HTTP status and a JSON body (none for 304/412/416)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from aiohttp import web

from proxy.errors import (
    Answered,
    FillFailed,
    Forbidden,
    InsufficientStorage,
    IntegrityError,
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


@dataclass(frozen=True, slots=True)
class HttpError:
    status: int
    code: str


HTTP_ERRORS: Mapping[type[ProxyError], HttpError] = {
    InvalidKey: HttpError(400, "InvalidURL"),
    InvalidDigest: HttpError(400, "InvalidDigest"),
    Forbidden: HttpError(403, "HostNotAllowed"),
    UpstreamUnavailable: HttpError(502, "UpstreamUnavailable"),
    InsufficientStorage: HttpError(507, "InsufficientStorage"),
    UpstreamChanged: HttpError(502, "UpstreamChanged"),
    IntegrityError: HttpError(502, "IntegrityError"),
    FillFailed: HttpError(502, "FillFailed"),
}
FALLBACK = HttpError(500, "InternalError")
ANSWERED: Mapping[type[Answered], int] = {Unmodified: 304, PreconditionFailed: 412, RangeNotSatisfiable: 416}
"""Outcomes of the request's own conditions: the status, with the representation's headers and no body."""


def error_response(exc: ProxyError) -> web.Response:
    if isinstance(exc, Answered):
        return web.Response(status=ANSWERED[type(exc)], headers=exc.headers)
    if isinstance(exc, UpstreamRejected):
        # Passed through as the upstream said it, marked so operators can tell it from ours.
        return web.Response(status=exc.status, body=exc.body, headers={
            "Content-Type": exc.content_type, "X-Upstream-Status": str(exc.status)})
    error = next((e for cls, e in HTTP_ERRORS.items() if isinstance(exc, cls)), FALLBACK)
    return web.json_response({"error": error.code, "message": str(exc)}, status=error.status,
                             headers={"X-Error-Code": error.code})
