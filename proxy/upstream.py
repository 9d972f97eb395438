"""The ports: what an adapter gives the core to fetch one object from its upstream.

Adapters implement ``Source`` for each object a client asks for; the core decides whether to
fetch, and calls ``fetch`` at most once per coalesced fill (plus resumes). Adapters raise the
domain errors in ``proxy.errors`` and never return wire responses from here.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

import aiohttp
from aiohttp import web

from proxy.digest import Checksum
from proxy.errors import UpstreamUnavailable

NETWORK_ERRORS = (aiohttp.ClientError, asyncio.TimeoutError, OSError)
"""What a dropped, refused or timed-out upstream connection raises."""

if TYPE_CHECKING:
    from proxy.read.core import Core


@dataclass(frozen=True, slots=True)
class Validators:
    """What identifies one version of an upstream object (RFC 9110 §8.8)."""

    etag: str | None = None
    last_modified: str | None = None

    def __bool__(self) -> bool:
        return self.etag is not None or self.last_modified is not None


@dataclass(frozen=True, slots=True)
class ObjectMeta:
    """What the upstream said about an object before its bytes."""

    size: int | None
    content_type: str = "application/octet-stream"
    validators: Validators = Validators()
    checksums: tuple[Checksum, ...] = ()
    immutable: bool = False
    """The key names one version forever (e.g. a file at a commit): never revalidated."""
    attributes: tuple[tuple[str, str], ...] = ()
    """Adapter facts remembered with the index entry (``IndexEntry.extra``)."""


@dataclass(frozen=True, slots=True)
class FetchRequest:
    """One upstream request.

    ``offset`` > 0 resumes a download: the source must return bytes from ``offset`` of the same
    version (``if_range``), or raise UpstreamChanged. ``end`` (exclusive) asks for one segment,
    bytes [offset, end): the source sends ``Range: bytes=<offset>-<end - 1>`` and raises
    RangeIgnored when the upstream answers with the whole object. ``if_none_match`` revalidates
    a cached version: the source returns NotModified when it is still current.
    """

    offset: int = 0
    end: int | None = None
    if_range: Validators | None = None
    if_none_match: Validators | None = None

    @property
    def ranged(self) -> bool:
        return bool(self.offset) or self.end is not None

    def range_header(self) -> str:
        """The ``Range`` value for a ranged request."""
        return f"bytes={self.offset}-" + ("" if self.end is None else str(self.end - 1))


class NotModified:
    """The cached version is still current."""


NOT_MODIFIED = NotModified()


@dataclass(slots=True)
class Takeover:
    """An open response's connection, handed over after its head (``proxy.fill.receive``): ``head``
    holds the body bytes the HTTP client had already read, ``length`` the body's bytes after them."""

    transport: asyncio.Transport | None
    """None when the whole body had already been read (``head``)."""
    head: bytes
    length: int
    idle_timeout: float | None
    """Seconds the upstream may stay silent before the connection is dropped (None: never)."""


class Fetched(Protocol):
    """An open upstream response: metadata now, the body as it arrives."""

    @property
    def meta(self) -> ObjectMeta: ...

    def chunks(self) -> AsyncIterator[bytes]:
        """Body bytes from the requested offset. Raises UpstreamUnavailable if cut short."""
        ...

    def takeover(self) -> Takeover | None:
        """The connection, for a reader that receives the rest of the body itself (instead of
        ``chunks``); None when it cannot be handed over. Afterwards only ``close`` is called."""
        ...

    async def close(self) -> None: ...


class ResponseBody:
    """``Fetched`` over an open aiohttp response, for every adapter: the body as it arrives.
    ``upstream`` names the upstream in the error raised when the body is cut short."""

    def __init__(self, response: aiohttp.ClientResponse, meta: ObjectMeta, upstream: str) -> None:
        self._response = response
        self._upstream = upstream
        self.meta = meta

    async def chunks(self) -> AsyncIterator[bytes]:
        try:
            async for chunk in self._response.content.iter_any():
                yield chunk
        except NETWORK_ERRORS as exc:
            raise UpstreamUnavailable(f"{self._upstream} body interrupted: {exc!r}") from exc

    def takeover(self) -> Takeover | None:
        """A body of known length, not encoded, on a plain or TLS connection: drain what aiohttp
        has read and parsed, stop its read timer, and hand the transport over."""
        response = self._response
        connection = response.connection
        content = response.content
        length = response.content_length
        if (connection is None or connection.transport is None or connection.protocol is None
                or length is None or "Transfer-Encoding" in response.headers
                or response.headers.get("Content-Encoding", "identity") != "identity"
                or content.exception() is not None):
            return None
        protocol, transport = connection.protocol, connection.transport
        head = []
        while data := content.read_nowait(-1):  # draining also feeds what aiohttp held back
            head.append(data)
        received = sum(len(d) for d in head)
        if response.connection is None or content.at_eof():  # the whole body: the connection went back to the pool
            return Takeover(None, b"".join(head), 0, None)
        protocol.pause_reading()  # aiohttp's sock_read timer stops; the new reader has its own
        return Takeover(transport, b"".join(head), length - received, protocol.read_timeout)

    async def close(self) -> None:
        self._response.close()


if TYPE_CHECKING:
    _: type[Fetched] = ResponseBody


class Source(Protocol):
    """One upstream object, as an adapter knows how to fetch it."""

    @property
    def key(self) -> str:
        """The upstream identity, ``<namespace>:<id>``: one key, one index entry, one fill."""
        ...

    async def fetch(self, request: FetchRequest) -> Fetched | NotModified: ...


class Frontend(Protocol):
    """An adapter's wire side: it adds its routes to the application, and serves them through
    ``core`` (``proxy.read.core``), the one facade of the core it uses."""

    name: str

    def setup(self, app: web.Application, core: Core) -> None: ...


def same_version(a: ObjectMeta, b: ObjectMeta) -> bool:
    """Whether two answers describe the same bytes (so one download may continue the other)."""
    return a.size == b.size and a.validators == b.validators
