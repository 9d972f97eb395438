"""Choosing, per file, where its bytes come from, best first, and saying why (``--explain``):

(a) ``node``: the node-local tier holds the blob;
(b) ``handoff``: the proxy's blob on its cache volume, mounted here (size and blake3 checked);
(c) ``ucx``: the UCX sidecar, when ``MODELMANAGER_UCX`` names one (``modelmanager_client.ucx``),
    then any other transport in ``EXTRA_TRANSPORTS``; one that fails mid-file hands the rest to HTTP;
(d) ``http``: parallel ``Range`` requests to the proxy.

Hand-off comes before UCX: on one node, reading the mounted volume moves no bytes at all
(docs/ucx.md has the measurements).

Every choice is logged on the ``modelmanager_client.transport`` logger at INFO.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Protocol

from modelmanager_client import handoff
from modelmanager_client.fallback import Fallback
from modelmanager_client.node import NodeTier
from modelmanager_client.ranged import FileRanges, HttpRanges, RangeSource
from modelmanager_client.remote import RemoteFile
from modelmanager_client.routes import Route

log = logging.getLogger(__name__)

CONNECTIONS_ENV = "MODELMANAGER_CLIENT_CONNECTIONS"
UCX_ENV = "MODELMANAGER_UCX"


def connections() -> int:
    """Parallel Range connections per file (``MODELMANAGER_CLIENT_CONNECTIONS``, default 8)."""
    return max(1, int(os.environ.get(CONNECTIONS_ENV, "8")))


@dataclass(frozen=True, slots=True)
class Choice:
    name: str
    """The transport, e.g. ``"node"``, ``"handoff"``, ``"http"``."""
    detail: str
    rejected: tuple[str, ...] = ()
    """Why better transports were not used."""
    moved: str = ""
    """How many bytes moved, how fast (and by what, when a transport failed part way)."""

    def __str__(self) -> str:
        skipped = "; ".join(self.rejected)
        return (f"{self.name} ({self.detail})" + (f": {self.moved}" if self.moved else "")
                + (f" [not used: {skipped}]" if skipped else ""))

    def timed(self, source: RangeSource, size: int, seconds: float) -> Choice:
        """This choice with what moved ``size`` bytes in ``seconds``."""
        rate = f"{size / seconds / 1e9:.2f} GB/s" if seconds > 0 else "-"
        moved = f"{size:,} bytes in {seconds:.3f} s = {rate}"
        failed = source.outcome() if isinstance(source, Fallback) else ""
        return replace(self, moved=f"{moved}; {failed}" if failed else moved)


class Transport(Protocol):
    """A way to reach a blob other than the built-in ones (the UCX sidecar implements this)."""

    name: str

    def open(self, remote: RemoteFile) -> tuple[RangeSource | None, str]: ...


EXTRA_TRANSPORTS: list[Transport] = []
"""Transports tried after path hand-off and before HTTP, in order."""


def transports(on_bytes: Callable[[int], None] | None = None) -> list[Transport]:
    """The UCX sidecar (when ``MODELMANAGER_UCX`` is set: nothing of UCX is imported otherwise),
    then ``EXTRA_TRANSPORTS``."""
    found: list[Transport] = []
    if os.environ.get(UCX_ENV, "").strip():
        from modelmanager_client.ucx.transport import UcxTransport

        found.append(UcxTransport(on_bytes))
    return found + EXTRA_TRANSPORTS


def report(what: str, choice: Choice) -> None:
    log.info("%s: %s", what, choice)


def open_source(remote: RemoteFile, route: Route, tier: NodeTier, *, verify: bool,
                skip_handoff: str | None = None,
                on_bytes: Callable[[int], None] | None = None) -> tuple[RangeSource, Choice]:
    """The best source of ``remote``'s bytes. ``verify``: hash a hand-off blob before it is used
    (a caller that hashes what it copies passes False). ``skip_handoff``: why not to try it."""
    rejected: list[str] = []
    if remote.digest is not None and (held := tier.get(remote.digest, remote.size)) is not None:
        return FileRanges(held, remote.size), Choice("node", f"node tier {held}")
    if remote.digest is None:
        rejected.append("node: digest unknown")
    else:
        rejected.append("node: not held")
    if skip_handoff is None:
        path, why = handoff.locate(remote, handoff.mount())
        if path is not None and verify:
            ok, checked = handoff.verify(path, remote.digest or "", tier)
            if not ok:
                path, why = None, checked
            else:
                why = f"{why}, {checked}"
        if path is not None:
            return FileRanges(path, remote.size), Choice("handoff", why, tuple(rejected))
        rejected.append(f"handoff: {why}")
    else:
        rejected.append(f"handoff: {skip_handoff}")
    for extra in transports(on_bytes):
        source, why = extra.open(remote)
        if source is not None:
            fallback = Fallback(source, extra.name, lambda: HttpRanges(route, remote.size, on_bytes))
            return fallback, Choice(extra.name, why, tuple(rejected))
        rejected.append(f"{extra.name}: {why}")
    return HttpRanges(route, remote.size, on_bytes), Choice("http", f"{connections()} Range connections to "
                                                          f"{route.endpoint.netloc}", tuple(rejected))
