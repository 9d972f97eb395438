"""What the proxy under test sent, from its own ``/metrics`` (Prometheus text)."""

from __future__ import annotations

from tests.conftest import Proxy

SERVED = "modelmanager_served_bytes_total"


async def served_bytes(proxy: Proxy) -> float:
    """Body bytes the proxy sent to clients, every source together."""
    async with proxy.session.get(proxy.server.make_url("/metrics")) as response:
        text = await response.text()
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
               if line.startswith((SERVED + "{", SERVED + " ")))
