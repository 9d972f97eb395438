"""The S3 adapter's wire errors: S3's error codes, statuses and XML body, and the table that
renders the core's domain errors as S3 would.

HEAD responses never carry a body (botocore then reports the bare status as the code), exactly as
S3 answers them.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from xml.sax.saxutils import escape

from aiohttp import web

from proxy.errors import (
    Answered,
    FillFailed,
    Forbidden,
    InsufficientStorage,
    IntegrityError,
    InvalidKey,
    PreconditionFailed,
    ProxyError,
    RangeNotSatisfiable,
    Unmodified,
    UpstreamChanged,
    UpstreamRejected,
    UpstreamUnavailable,
)

XML = "application/xml"

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class S3Error:
    status: int
    code: str
    message: str


NO_SUCH_KEY = S3Error(404, "NoSuchKey", "The specified key does not exist.")
NO_SUCH_BUCKET = S3Error(404, "NoSuchBucket", "The specified bucket does not exist.")
ACCESS_DENIED = S3Error(403, "AccessDenied", "Access Denied")
SIGNATURE_DOES_NOT_MATCH = S3Error(403, "SignatureDoesNotMatch", "The request signature we calculated does "
                                   "not match the signature you provided. Check your key and signing method.")
INVALID_ACCESS_KEY_ID = S3Error(403, "InvalidAccessKeyId", "The AWS Access Key Id you provided does not exist "
                                "in our records.")
REQUEST_TIME_TOO_SKEWED = S3Error(403, "RequestTimeTooSkewed", "The difference between the request time and "
                                  "the current time is too large.")
EXPIRED = S3Error(403, "AccessDenied", "Request has expired")
MALFORMED_AUTH = S3Error(400, "AuthorizationHeaderMalformed", "The authorization header is malformed.")
BAD_DIGEST = S3Error(400, "XAmzContentSHA256Mismatch", "The provided 'x-amz-content-sha256' header does not "
                     "match what was computed.")
INVALID_ARGUMENT = S3Error(400, "InvalidArgument", "Invalid Argument")
MISSING_CONTENT_LENGTH = S3Error(411, "MissingContentLength", "You must provide the Content-Length HTTP header.")
MALFORMED_XML = S3Error(400, "MalformedXML", "The XML you provided was not well-formed or did not validate "
                        "against our published schema.")
INVALID_RANGE = S3Error(416, "InvalidRange", "The requested range is not satisfiable")
PRECONDITION_FAILED = S3Error(412, "PreconditionFailed", "At least one of the pre-conditions you specified "
                              "did not hold")
NOT_IMPLEMENTED = S3Error(501, "NotImplemented", "A header or query you provided implies functionality that "
                          "is not implemented.")
METHOD_NOT_ALLOWED = S3Error(405, "MethodNotAllowed", "The specified method is not allowed against this "
                             "resource.")
SERVICE_UNAVAILABLE = S3Error(503, "ServiceUnavailable", "The upstream object store is unavailable. Please retry.")
INTERNAL_ERROR = S3Error(500, "InternalError", "We encountered an internal error. Please try again.")


class S3Fault(Exception):
    """An S3 error raised by the adapter itself (auth, addressing, unsupported calls)."""

    def __init__(self, error: S3Error, detail: str = "") -> None:
        super().__init__(f"{error.code}: {detail or error.message}")
        self.error = error
        self.detail = detail


S3_ERRORS: Mapping[type[ProxyError], S3Error] = {
    InvalidKey: S3Error(400, "InvalidArgument", "The key is not valid."),
    Forbidden: ACCESS_DENIED,
    UpstreamUnavailable: SERVICE_UNAVAILABLE,
    InsufficientStorage: SERVICE_UNAVAILABLE,
    UpstreamChanged: SERVICE_UNAVAILABLE,
    IntegrityError: INTERNAL_ERROR,
    FillFailed: INTERNAL_ERROR,
}


def answered_response(request: web.Request, exc: Answered) -> web.Response:
    """A request's own conditions decided: 304 bare; 412 and 416 with S3's error XML on a GET
    (clients read the code from it), with the object's headers."""
    if isinstance(exc, Unmodified):
        return web.Response(status=304, headers=exc.headers)
    if isinstance(exc, PreconditionFailed):
        error = PRECONDITION_FAILED
        extra = {"Condition": "If-Match" if "If-Match" in request.headers else "If-Unmodified-Since"}
    elif isinstance(exc, RangeNotSatisfiable):
        error = INVALID_RANGE
        extra = {"RangeRequested": request.headers.get("Range", ""), "ActualObjectSize": str(exc.size)}
    else:
        raise TypeError(f"no S3 answer for {type(exc).__name__}")
    if request.method != "GET":
        return web.Response(status=error.status, headers=exc.headers)
    return web.Response(status=error.status, body=error_body(error, request.path, extra=extra), content_type=XML,
                        headers=exc.headers)


def error_body(error: S3Error, resource: str, message: str = "", extra: Mapping[str, str] = {}) -> bytes:
    fields = "".join(f"<{k}>{escape(v)}</{k}>" for k, v in extra.items())
    return (f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{error.code}</Code>'
            f"<Message>{escape(message or error.message)}</Message>{fields}"
            f"<Resource>{escape(resource)}</Resource><RequestId>{secrets.token_hex(8)}</RequestId>"
            f"</Error>").encode()


def s3_response(request: web.Request, error: S3Error, message: str = "",
                extra: Mapping[str, str] = {}) -> web.Response:
    headers = {"X-Error-Code": error.code}
    if request.method == "HEAD":
        return web.Response(status=error.status, headers=headers)
    return web.Response(status=error.status, body=error_body(error, request.path, message, extra),
                        content_type=XML, headers=headers)


def error_response(request: web.Request, exc: ProxyError | S3Fault) -> web.Response:
    if isinstance(exc, Answered):
        return answered_response(request, exc)
    log.info("S3 request refused: %s %s: %r", request.method, request.path, exc)
    if isinstance(exc, S3Fault):
        return s3_response(request, exc.error, exc.detail)
    if isinstance(exc, UpstreamRejected):
        # The upstream is S3: its error XML (NoSuchKey, NoSuchBucket, AccessDenied...) is already
        # what the client expects, so it is passed through with its status.
        headers = {"X-Upstream-Status": str(exc.status)}
        if request.method == "HEAD" or not exc.body:
            return web.Response(status=exc.status, headers=headers)
        return web.Response(status=exc.status, body=exc.body, content_type=XML, headers=headers)
    error = next((e for cls, e in S3_ERRORS.items() if isinstance(exc, cls)), INTERNAL_ERROR)
    return s3_response(request, error, str(exc) if error.status < 500 else "")
