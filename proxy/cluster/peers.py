"""Peer hops: a pod that misses in its memory tier sends the client to, or fetches from, a peer
that holds the blob in memory (the coordinator knows which pods do).

At most one hop: a hopped request carries a marker (the ``X-ModelManager-Hop`` header when this
pod fetches from the peer, the ``mm-hop`` query parameter on a redirect), and a marked request is
never sent on. Hops happen only after the adapter has checked the client's access and the index
says the key is a hit, so a peer never decides access. A redirect changes the URL, so adapters
whose requests are signed over the URL (S3 SigV4) never allow one (``redirect_ok``), and
requests with credentials are not redirected either (clients drop them across hosts); those use
proxy mode or are served locally. The internal endpoint serves only blobs held in memory, by
digest, with a single byte range, and is mounted only in cluster mode with peer hops on; every
call to it must carry ``Authorization: Bearer <cluster secret>`` (``proxy.credentials``), so a
client that learnt a digest (from a log line, a Redis key or an ETag) cannot read private bytes
through it.
"""

from __future__ import annotations

import contextlib
import logging
from typing import Literal

from aiohttp import ClientError, ClientResponse, ClientSession, ClientTimeout, web

from proxy.cluster.port import Coordinator, Node
from proxy.control.guard import bearer_matches
from proxy.digest import Digest
from proxy.errors import CoordinationUnavailable, InvalidDigest, MalformedRange, RangeNotSatisfiable
from proxy.read.memory import MemoryTier
from proxy.read.ranges import ByteRange

log = logging.getLogger(__name__)

PeerMode = Literal["off", "redirect", "proxy"]
HOP_HEADER = "X-ModelManager-Hop"
HOP_QUERY = "mm-hop"
BLOB_ROUTE = "/_mm/v1/blobs/{digest}"


class Peers:
    def __init__(self, mode: PeerMode, coordinator: Coordinator, memory: MemoryTier | None,
                 secret: str | None = None) -> None:
        self.mode = mode
        self.secret = secret
        """The cluster secret pods present to each other; None: the internal endpoint refuses every call."""
        self.coordinator = coordinator
        self.memory = memory
        self.session: ClientSession | None = None
        """Set while the application runs (cleanup context)."""

    @staticmethod
    def is_hop(request: web.Request) -> bool:
        return HOP_HEADER in request.headers or HOP_QUERY in request.query

    async def locate(self, request: web.Request, digest: Digest) -> Node | None:
        """A peer holding ``digest`` in memory that this request may hop to, or None."""
        if self.mode == "off" or request.method != "GET" or self.is_hop(request):
            return None
        try:
            nodes = await self.coordinator.holders(digest)
        except CoordinationUnavailable:
            return None
        return nodes[0] if nodes else None

    def may_redirect(self, request: web.Request) -> bool:
        return self.mode == "redirect" and "Authorization" not in request.headers

    @staticmethod
    def redirect_url(request: web.Request, node: Node) -> str:
        sep = "&" if request.query_string else "?"
        return f"{node.url.rstrip('/')}{request.path_qs}{sep}{HOP_QUERY}=1"

    async def open(self, node: Node, digest: Digest, rng: ByteRange) -> ClientResponse | None:
        """The peer's answer with exactly ``rng`` of the blob, or None (then serve locally)."""
        if self.session is None:
            return None
        url = f"{node.url.rstrip('/')}{BLOB_ROUTE.format(digest=digest.hex)}"
        if self.secret is None:
            return None
        headers = {HOP_HEADER: "1", "Range": f"bytes={rng.start}-{rng.end - 1}",
                   "Authorization": f"Bearer {self.secret}"}
        try:
            response = await self.session.get(url, headers=headers, timeout=ClientTimeout(sock_connect=1, sock_read=10))
        except (ClientError, OSError, TimeoutError) as exc:
            log.info("peer hop failed", extra={"peer": node.node_id, "error": repr(exc)})
            return None
        if response.status in (200, 206) and response.content_length == rng.length:
            return response
        response.release()
        return None

    async def serve_blob(self, request: web.Request) -> web.StreamResponse:
        """The internal endpoint: a blob from this pod's memory tier (never from disk, never a hop)."""
        if not bearer_matches(request.headers.get("Authorization"), self.secret):
            return web.Response(status=401, text="the internal endpoint needs the cluster secret")
        try:
            digest = Digest(request.match_info["digest"])
        except InvalidDigest:
            return web.Response(status=400, text="bad digest")
        data = self.memory.get(digest) if self.memory is not None else None
        if data is None:
            return web.Response(status=404, text="not in memory")
        rng = ByteRange(0, len(data))
        header = request.headers.get("Range")
        if header:
            try:
                rng = ByteRange.parse(header, len(data)) or rng
            except MalformedRange:
                pass
            except RangeNotSatisfiable:
                return web.Response(status=416, headers={"Content-Range": f"bytes */{len(data)}"})
        status = 206 if header and rng.length != len(data) else 200
        headers = {"Content-Range": rng.content_range(len(data))} if status == 206 else {}
        return web.Response(status=status, body=data[rng.start:rng.end], headers=headers,
                            content_type="application/octet-stream")

    async def close(self) -> None:
        if self.session is not None:
            with contextlib.suppress(ClientError):
                await self.session.close()
