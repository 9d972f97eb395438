"""The read-path planner: what to do for a request of one key. Pure: no I/O, no clock.

    fill running for the key            -> JoinFill   (tail it; it may be a revalidation)
    no entry, or its blob is gone       -> StartFill
    entry immutable, or checked < max_age ago
                                        -> ServeLocal (RFC 9111 §4.2: fresh)
    otherwise                           -> Revalidate (RFC 9111 §4.3: conditional request;
                                           stale-if-error, RFC 5861 §4, if the upstream fails)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from proxy.storage.index import IndexEntry

if TYPE_CHECKING:
    from proxy.fill.state import Fill


@dataclass(frozen=True, slots=True)
class ServeLocal:
    entry: IndexEntry


@dataclass(frozen=True, slots=True)
class JoinFill:
    fill: Fill


@dataclass(frozen=True, slots=True)
class StartFill:
    pass


@dataclass(frozen=True, slots=True)
class Revalidate:
    entry: IndexEntry


ReadPlan = ServeLocal | JoinFill | StartFill | Revalidate


def plan_read(entry: IndexEntry | None, blob_present: bool, fill: Fill | None, now: float,
              max_age: float | None) -> ReadPlan:
    """Decide the read path. ``max_age`` None means cached entries never need revalidation."""
    if fill is not None:
        return JoinFill(fill)
    if entry is None or not blob_present:
        return StartFill()
    if entry.immutable or max_age is None or now - entry.checked_at < max_age:
        return ServeLocal(entry)
    return Revalidate(entry)
