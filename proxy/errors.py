"""Domain errors. Adapters render them to wire responses through their own error tables."""

from __future__ import annotations

from collections.abc import Mapping


class ProxyError(Exception):
    """Base of every error the core raises on purpose."""


class InvalidDigest(ProxyError, ValueError):
    """A string that should be a digest or checksum is not one."""


class InvalidKey(ProxyError, ValueError):
    """An upstream identity (cache key) is malformed or tries to escape its namespace."""


class Forbidden(ProxyError):
    """The request is well-formed but this proxy refuses it (e.g. an upstream host not allowed)."""


class InvalidCredentials(ProxyError):
    """Credentials in the request cannot be used as sent (e.g. a token that is not ASCII text)."""


class InsufficientStorage(ProxyError):
    """The cache volume has no room for this object (its size plus ``--disk-reserve-bytes``):
    answered before any header, so a client never gets a short 200."""


class IntegrityError(ProxyError):
    """Downloaded bytes do not match the size or checksum the upstream announced."""


class UpstreamUnavailable(ProxyError):
    """The upstream could not be reached, timed out, dropped the connection or answered 5xx.

    Retryable: a fill resumes from the bytes it already has.
    """


class UpstreamChanged(ProxyError):
    """The upstream object changed while it was being downloaded (a resume saw other validators)."""


class RangeIgnored(ProxyError):
    """The upstream answered a segment request (a bounded Range) with the whole object: it does
    not honour Range, so a fill downloads it as one stream."""


class UpstreamRejected(ProxyError):
    """The upstream answered the request with a client error (404, 403, 401, ...).

    Carries what the adapter needs to pass the answer through faithfully. Never cached as content.
    """

    def __init__(self, status: int, body: bytes = b"", content_type: str = "text/plain",
                 headers: tuple[tuple[str, str], ...] = ()) -> None:
        super().__init__(f"upstream answered {status}")
        self.status = status
        self.body = body
        self.content_type = content_type
        self.headers = headers


class CoordinationUnavailable(ProxyError):
    """The cluster coordinator (Redis) cannot be reached; the caller degrades to this node alone."""


class FillFailed(ProxyError):
    """A fill this reader was tailing failed; the reader's response must be aborted."""


class MalformedRange(ProxyError, ValueError):
    """A Range header that does not parse; RFC 9110 §14.2 says to ignore it."""


class Answered(ProxyError):
    """Not a failure: the request's own conditions decided the answer, which has no body.

    ``headers`` describe the representation (ETag, Last-Modified, X-Cache, ...); each adapter's
    error table renders the outcome with them, as its protocol does.
    """

    def __init__(self, message: str, headers: Mapping[str, str] = {}) -> None:
        super().__init__(message)
        self.headers = dict(headers)


class Unmodified(Answered):
    """The client's copy is current: If-None-Match or If-Modified-Since (RFC 9110 §15.4.5)."""

    def __init__(self, headers: Mapping[str, str] = {}) -> None:
        super().__init__("not modified", headers)


class PreconditionFailed(Answered):
    """If-Match, If-Unmodified-Since (or If-None-Match on another method) did not hold (RFC 9110 §15.5.13)."""

    def __init__(self, headers: Mapping[str, str] = {}) -> None:
        super().__init__("precondition failed", headers)


class RangeNotSatisfiable(Answered):
    """No byte of the requested range exists (RFC 9110 §15.5.17)."""

    def __init__(self, size: int, headers: Mapping[str, str] = {}) -> None:
        super().__init__(f"range not satisfiable for size {size}", headers)
        self.size = size


class ConfigError(ValueError):
    """Settings that parse but cannot be used (a routes file naming a store this build lacks...);
    ``serve`` prints the message and exits with status 2."""
