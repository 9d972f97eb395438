"""One HTTP exchange with the proxy over ``http.client`` (blocking, so reads release the GIL), and
what a file's response headers say about it (``RemoteFile``)."""

from __future__ import annotations

import http.client
import json
import socket
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

from modelmanager_client.errors import AccessDenied, ClientError, NotFound, ProxyUnavailable

TIMEOUT = 60.0
DIGEST_HEADER = "X-MM-Blob-Digest"
PATH_HEADER = "X-MM-Blob-Path"
REDIRECTS = (301, 302, 303, 307, 308)
NETWORK_ERRORS = (OSError, http.client.HTTPException)
"""What a dropped or refused connection raises (socket errors, timeouts, short bodies)."""


@dataclass(frozen=True, slots=True)
class Endpoint:
    """Where to connect: scheme, host, port, and the path prefix of the proxy's base URL."""

    scheme: str
    host: str
    port: int
    prefix: str

    @classmethod
    def of(cls, base: str) -> Endpoint:
        parts = urlsplit(base)
        port = parts.port or (443 if parts.scheme == "https" else 80)
        return cls(parts.scheme, parts.hostname or "", port, parts.path.rstrip("/"))

    def connect(self, timeout: float = TIMEOUT) -> http.client.HTTPConnection:
        if self.scheme == "https":
            return http.client.HTTPSConnection(self.host, self.port, timeout=timeout)
        conn = http.client.HTTPConnection(self.host, self.port, timeout=timeout)
        conn.connect()
        assert conn.sock is not None
        conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return conn

    @property
    def netloc(self) -> str:
        default = 443 if self.scheme == "https" else 80
        return self.host if self.port == default else f"{self.host}:{self.port}"


def connect(endpoint: Endpoint, what: str) -> http.client.HTTPConnection:
    """A connection to the proxy; ``ProxyUnavailable`` when it cannot be reached."""
    try:
        return endpoint.connect()
    except NETWORK_ERRORS as exc:
        raise ProxyUnavailable(f"{what}: {endpoint.netloc}: {exc}") from exc


def send(conn: http.client.HTTPConnection, method: str, target: str, headers: Mapping[str, str],
         hops: int = 2) -> http.client.HTTPResponse:
    """One request on ``conn``; raises the client's error for 4xx/5xx (the body is read and dropped).

    A redirect (a cluster's peer hop sends clients to the pod holding the blob) is followed on a
    one-off connection that closes itself when its response has been read.
    """
    conn.request(method, target, headers=dict(headers))
    response = conn.getresponse()
    location = response.getheader("Location")
    if response.status in REDIRECTS and location and hops > 0:
        response.read()
        parts = urlsplit(location)
        there = Endpoint(parts.scheme or "http", parts.hostname or conn.host, parts.port or conn.port, "")
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        return send(there.connect(), method, path, {**headers, "Connection": "close"}, hops - 1)
    if response.status >= 400:
        body = response.read()
        raise error_for(response.status, dict(response.headers.items()), body, f"{method} {target}")
    return response


def error_for(status: int, headers: Mapping[str, str], body: bytes, what: str) -> ClientError:
    message = headers.get("X-Error-Message") or _s3_message(body) or body[:200].decode("utf-8", "replace").strip()
    code = headers.get("X-Error-Code") or ""
    text = f"{what}: {status} {code} {message}".strip()
    if status in (401, 403):
        return AccessDenied(text)
    if status == 404:
        return NotFound(text)
    if status >= 500:
        return ProxyUnavailable(text)
    return ClientError(text)


def _s3_message(body: bytes) -> str:
    if body.startswith((b"<?xml", b"<Error")):
        text = body.decode("utf-8", "replace")
        start, end = text.find("<Message>"), text.find("</Message>")
        if 0 <= start < end:
            return text[start + 9:end]
    return ""


def get_json(endpoint: Endpoint, target: str, headers: Mapping[str, str]) -> tuple[object, dict[str, str]]:
    """GET a JSON document; returns it and the response headers."""
    conn = connect(endpoint, f"GET {target}")
    try:
        response = send(conn, "GET", target, headers)
        return json.loads(response.read()), dict(response.headers.items())
    except NETWORK_ERRORS as exc:
        raise ProxyUnavailable(f"GET {target}: {exc}") from exc
    finally:
        conn.close()


@dataclass(frozen=True, slots=True)
class RemoteFile:
    """A file as the proxy announced it (HEAD or the first response of a GET)."""

    target: str
    """The request target on the proxy (path and query) to GET its bytes."""
    size: int
    etag: str | None
    """HF: the blob name in the HF cache (the LFS sha256 or the git blob id); else the upstream's ETag."""
    commit: str | None
    """HF: the commit the revision resolved to."""
    digest: str | None
    """blake3 hex of the committed blob, when the proxy holds it."""
    blob_path: str | None
    """The blob's path relative to the proxy's cache volume, when the proxy holds it."""

    @classmethod
    def of(cls, target: str, headers: http.client.HTTPMessage, size: int) -> RemoteFile:
        etag = headers.get("X-Linked-Etag") or headers.get("ETag")
        digest = headers.get(DIGEST_HEADER)
        return cls(target, size, etag.removeprefix("W/").strip('"') if etag else None,
                   headers.get("X-Repo-Commit"), digest.removeprefix("blake3:") if digest else None,
                   headers.get(PATH_HEADER))


def head(endpoint: Endpoint, target: str, headers: Mapping[str, str]) -> RemoteFile:
    """HEAD a file on the proxy."""
    conn = connect(endpoint, f"HEAD {target}")
    try:
        response = send(conn, "HEAD", target, headers)
        response.read()
        size = response.headers.get("X-Linked-Size") or response.headers.get("Content-Length")
        if size is None:
            raise ClientError(f"HEAD {target}: no Content-Length")
        return RemoteFile.of(target, response.headers, int(size))
    except NETWORK_ERRORS as exc:
        raise ProxyUnavailable(f"HEAD {target}: {exc}") from exc
    finally:
        conn.close()
