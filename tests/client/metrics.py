"""What the proxy under test sent: its own Prometheus counters, read in process."""

from __future__ import annotations

from proxy import keys
from tests.conftest import Proxy


def served_bytes(proxy: Proxy) -> float:
    """Body bytes the proxy sent to clients, every source together."""
    counter = proxy.app[keys.METRICS].served_bytes
    return sum(s.value for metric in counter.collect() for s in metric.samples if s.name.endswith("_total"))
