"""Choosing, per file, where its bytes come from, best first, and saying why (``--explain``):

(a) ``node``: the node-local tier holds the blob;
(b) ``handoff``: the proxy's blob on its cache volume, mounted here (size and blake3 checked);
(c) a peer transport such as the UCX sidecar (not built here: ``EXTRA_TRANSPORTS`` is its seam);
(d) ``http``: parallel ``Range`` requests to the proxy.

Every choice is logged on the ``modelmanager_client.transport`` logger at INFO.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from modelmanager_client import handoff
from modelmanager_client.node import NodeTier
from modelmanager_client.ranged import FileRanges, HttpRanges, RangeSource
from modelmanager_client.remote import RemoteFile
from modelmanager_client.routes import Route

log = logging.getLogger(__name__)

CONNECTIONS_ENV = "MODELMANAGER_CLIENT_CONNECTIONS"


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

    def __str__(self) -> str:
        skipped = "; ".join(self.rejected)
        return f"{self.name} ({self.detail})" + (f" [not used: {skipped}]" if skipped else "")


class Transport(Protocol):
    """A way to reach a blob other than the built-in ones (the UCX sidecar implements this)."""

    name: str

    def open(self, remote: RemoteFile) -> tuple[RangeSource | None, str]: ...


EXTRA_TRANSPORTS: list[Transport] = []
"""Transports tried after path hand-off and before HTTP, in order."""


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
    for extra in EXTRA_TRANSPORTS:
        source, why = extra.open(remote)
        if source is not None:
            return source, Choice(extra.name, why, tuple(rejected))
        rejected.append(f"{extra.name}: {why}")
    return HttpRanges(route, remote.size, on_bytes), Choice("http", f"{connections()} Range connections to "
                                                          f"{route.endpoint.netloc}", tuple(rejected))
