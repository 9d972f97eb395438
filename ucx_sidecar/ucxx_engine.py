"""The ucxx engine: tag sends from the mapped blob to the client's worker.

Tuned on a 2-core VM (docs/ucx.md has the numbers): endpoints are made from the client's worker
address (the listener API only ever picks tcp lanes), without endpoint error handling (with it
UCX gives up shared memory and cma), and UCX progresses in ``blocking`` mode (a progress thread
halves the bandwidth on few cores). A crashed client is noticed on the control connection.
"""

from __future__ import annotations

import base64
import binascii
import os
from typing import Any

from modelmanager_client.ucx.tuning import apply_ucx_defaults
from ucx_sidecar.blobs import Refused

MAX_ADDRESS = 16 * 1024
MAX_TAG = (1 << 63) - 1


class UcxxEngine:
    name = "ucxx"

    def __init__(self, progress_mode: str | None = None) -> None:
        self.progress_mode = progress_mode or os.environ.get("MODELMANAGER_UCXX_PROGRESS", "blocking")

    async def start(self) -> None:
        apply_ucx_defaults()
        import ucxx

        ucxx.init(progress_mode=self.progress_mode)

    async def target(self, request: dict[str, Any], state: dict[str, Any]) -> Any:
        import ucxx

        text, tag = request.get("address"), request.get("tag")
        if not isinstance(text, str) or len(text) > MAX_ADDRESS:
            raise Refused("a ucxx request needs the client's worker address")
        if type(tag) is not int or not 0 < tag <= MAX_TAG:
            raise Refused("a ucxx request needs a positive 63-bit tag")
        endpoints: dict[str, Any] = state.setdefault("ucxx", {})
        if text not in endpoints:
            try:
                address = ucxx.get_ucx_address_from_buffer(base64.b64decode(text, validate=True))
                endpoints[text] = await ucxx.create_endpoint_from_worker_address(address,
                                                                                 endpoint_error_handling=False)
            except (binascii.Error, ucxx.exceptions.UCXError) as exc:
                raise Refused(f"cannot reach the client's worker: {exc}") from exc
        return endpoints[text]

    async def send(self, target: Any, view: memoryview, request: dict[str, Any]) -> None:
        await target.send(view, tag=request["tag"], force_tag=True)

    def forget(self, state: dict[str, Any]) -> None:
        for endpoint in state.pop("ucxx", {}).values():
            endpoint.abort()
