"""The read-path planner: what to do for a request of one key. Pure: no I/O, no clock.

Two decisions, each a function of what is known at that point:

``plan_read``, before any upstream request:

    fill running for the key            -> JoinFill   (tail it; it may be a revalidation)
    no entry, or its blob is gone       -> StartFill
    entry immutable, or checked < max_age ago
                                        -> ServeLocal (RFC 9111 §4.2: fresh)
    otherwise                           -> Revalidate (RFC 9111 §4.3: a conditional request)

``plan_ready``, once the fill joined or started knows the upstream's answer:

    metadata known (bytes landing or landed)
                                        -> TailFill
    the upstream said the copy is current
                                        -> ServeRevalidated (RFC 9111 §4.3.4)
    upstream unavailable, a stale copy exists
                                        -> ServeStale (stale-if-error, RFC 5861 §4)
    otherwise failed                    -> Reject (the fill's error, e.g. UpstreamRejected)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, assert_never

from proxy.errors import UpstreamUnavailable
from proxy.fill.state import FillState
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


@dataclass(frozen=True, slots=True)
class TailFill:
    pass


@dataclass(frozen=True, slots=True)
class ServeRevalidated:
    entry: IndexEntry


@dataclass(frozen=True, slots=True)
class ServeStale:
    entry: IndexEntry
    error: BaseException


@dataclass(frozen=True, slots=True)
class Reject:
    error: BaseException


ReadyPlan = TailFill | ServeRevalidated | ServeStale | Reject


def plan_ready(state: FillState, entry: IndexEntry | None, stale: IndexEntry | None,
               error: BaseException | None) -> ReadyPlan:
    """Decide what a reader gets from a fill that is no longer pending: ``entry`` is the fill's
    result (set once revalidated or committed), ``stale`` the copy it revalidates, if any."""
    match state:
        case FillState.STREAMING | FillState.COMMITTED:
            return TailFill()
        case FillState.NOT_MODIFIED:
            assert entry is not None, "a revalidated fill has its entry"
            return ServeRevalidated(entry)
        case FillState.FAILED:
            assert error is not None, "a failed fill has its error"
            if stale is not None and isinstance(error, UpstreamUnavailable):
                return ServeStale(stale, error)
            return Reject(error)
        case FillState.PENDING:
            raise AssertionError("plan_ready is asked once the fill is ready")
        case _ as unreachable:
            assert_never(unreachable)
