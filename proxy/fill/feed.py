"""The leader's side of cross-pod streaming: ``GET /_mm/v1/fills/{key_id}?token=T&offset=N``.

A follower pod (``proxy.fill.relay``) asks the pod that leads a fill for the bytes it has landed
from ``offset`` on, and gets them as they land, over one response, until the whole file has been
sent (with an unknown size: until the fill commits). So a follower's clients stream at the
leader's pace whatever its mount of the shared volume caches. Only the current leader answers:
the fill must be running here, under the lease whose fencing token ``T`` the follower read from
the fill record; unknown, finished and foreign fills are refused (404). Every landed byte is
sent, the final one too, before verification: the follower holds that one back from its clients
until the ``done`` event, as for a tailed file. A fill that fails mid-stream cuts the connection, so the
follower never sees a clean end of bad bytes.

Mounted only in cluster mode, on the client port; every call must carry
``Authorization: Bearer <cluster secret>`` (``proxy.credentials``).
"""

from __future__ import annotations

import logging

from aiohttp import web

from proxy.control.guard import bearer_matches
from proxy.errors import FillFailed
from proxy.fill.registry import Fills
from proxy.fill.sendfile import send_spans
from proxy.fill.state import FillState
from proxy.observe.metrics import Metrics

log = logging.getLogger(__name__)


class FillFeed:
    def __init__(self, fills: Fills, secret: str | None, metrics: Metrics) -> None:
        self.fills = fills
        self.secret = secret
        """The cluster secret; None: every call is refused."""
        self.metrics = metrics

    async def serve(self, request: web.Request) -> web.StreamResponse:
        if not bearer_matches(request.headers.get("Authorization"), self.secret):
            return web.Response(status=401, text="the internal endpoint needs the cluster secret")
        try:
            token = int(request.query["token"])
            offset = int(request.query.get("offset", "0"))
        except (KeyError, ValueError):
            return web.Response(status=400, text="token and offset must be integers")
        fill = self.fills.by_id(request.match_info["key_id"])
        if (fill is None or fill.lead_token is None or fill.lead_token != token
                or fill.state is not FillState.STREAMING or fill.meta is None):
            return web.Response(status=404, text="no fill led here under that token")
        size = fill.meta.size
        if offset < 0 or (size is not None and offset > size):
            return web.Response(status=416, text="offset outside the file")
        response = web.StreamResponse(status=200, headers={"Content-Type": "application/octet-stream"})
        if size is not None:
            response.content_length = size - offset
        else:
            response.enable_chunked_encoding()
        await response.prepare(request)
        sent = self.metrics.relayed_bytes.labels("sent")
        try:
            # A known size goes from the file to the socket by sendfile (the loop copies nothing);
            # an unknown one needs chunked framing: pread and write.
            if size is None or not await send_spans(request.transport, fill, offset, size, sent, landed=True):
                async for chunk in fill.read(offset, size, landed=True):
                    await response.write(chunk)
                    sent.inc(len(chunk))
            await response.write_eof()
        except FillFailed as exc:
            log.info("fill feed cut: the fill failed", extra={"key": fill.key, "error": str(exc)})
            if request.transport is not None:
                request.transport.abort()
        except ConnectionError:  # reset or broken pipe (sendfile): the follower stopped reading
            pass  # (it has the result from the done event, or leads now)
        return response
