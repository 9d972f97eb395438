"""One test per transition of the read planners (``plan_read``, ``plan_ready``). No I/O."""

from __future__ import annotations

from typing import cast

import pytest

from proxy.digest import Digest
from proxy.errors import UpstreamRejected, UpstreamUnavailable
from proxy.fill.state import Fill, FillState
from proxy.read.plan import (
    JoinFill,
    Reject,
    Revalidate,
    ServeLocal,
    ServeRevalidated,
    ServeStale,
    StartFill,
    TailFill,
    plan_read,
    plan_ready,
)
from proxy.storage.index import IndexEntry

ENTRY = IndexEntry(key="http:https://h/x", digest=Digest("0" * 64), size=1, checked_at=100.0)
FILL = cast(Fill, object())


def test_running_fill_is_joined_even_with_a_local_copy() -> None:
    assert plan_read(ENTRY, True, FILL, 100.0, 60.0) == JoinFill(FILL)


def test_unknown_key_starts_a_fill() -> None:
    assert plan_read(None, False, None, 100.0, 60.0) == StartFill()


def test_entry_whose_blob_is_gone_starts_a_fill() -> None:
    assert plan_read(ENTRY, False, None, 100.0, 60.0) == StartFill()


def test_fresh_entry_is_served_locally() -> None:
    assert plan_read(ENTRY, True, None, 159.9, 60.0) == ServeLocal(ENTRY)


def test_stale_entry_is_revalidated() -> None:
    assert plan_read(ENTRY, True, None, 160.0, 60.0) == Revalidate(ENTRY)


def test_immutable_entry_is_never_revalidated() -> None:
    immutable = IndexEntry(key=ENTRY.key, digest=ENTRY.digest, size=1, immutable=True)
    assert plan_read(immutable, True, None, 1e12, 60.0) == ServeLocal(immutable)


def test_no_max_age_means_never_revalidate() -> None:
    assert plan_read(ENTRY, True, None, 1e12, None) == ServeLocal(ENTRY)


# -- plan_ready: once the fill knows the upstream's answer ------------------------------------

STALE = IndexEntry(key=ENTRY.key, digest=Digest("1" * 64), size=1)


@pytest.mark.parametrize("state", [FillState.STREAMING, FillState.COMMITTED])
def test_fill_with_metadata_is_tailed(state: FillState) -> None:
    assert plan_ready(state, None, STALE, None) == TailFill()


def test_current_copy_is_served_revalidated() -> None:
    assert plan_ready(FillState.NOT_MODIFIED, ENTRY, STALE, None) == ServeRevalidated(ENTRY)


def test_unavailable_upstream_serves_the_stale_copy() -> None:
    error = UpstreamUnavailable("down")
    assert plan_ready(FillState.FAILED, None, STALE, error) == ServeStale(STALE, error)


def test_unavailable_upstream_without_a_stale_copy_rejects() -> None:
    error = UpstreamUnavailable("down")
    assert plan_ready(FillState.FAILED, None, None, error) == Reject(error)


def test_upstream_rejection_is_never_hidden_by_a_stale_copy() -> None:
    error = UpstreamRejected(404)
    assert plan_ready(FillState.FAILED, None, STALE, error) == Reject(error)


def test_pending_fill_is_not_planned() -> None:
    with pytest.raises(AssertionError):
        plan_ready(FillState.PENDING, None, None, None)
