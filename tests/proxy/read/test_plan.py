"""One test per transition of the read planner. No I/O."""

from __future__ import annotations

from typing import cast

from proxy.digest import Digest
from proxy.fill.state import Fill
from proxy.read.plan import JoinFill, Revalidate, ServeLocal, StartFill, plan_read
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
