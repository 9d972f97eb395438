from __future__ import annotations

from pathlib import Path

import pytest

from proxy.digest import Checksum, Digest
from proxy.errors import InvalidKey
from proxy.storage.index import Index, IndexEntry
from proxy.storage.layout import Layout


@pytest.fixture
def index(tmp_path: Path) -> Index:
    layout = Layout(tmp_path)
    layout.ensure("n")
    return Index(layout, "n")


def test_round_trip_survives_a_new_instance(index: Index) -> None:
    entry = IndexEntry(key="http:https://h/a", digest=Digest.of(b"a"), size=1, content_type="text/plain",
                       etag='"e"', last_modified="Tue, 03 Nov 2026 10:00:00 GMT",
                       checksums=(Checksum("md5", "0" * 32),), fetched_at=1.0, checked_at=2.0)
    index.put(entry)
    assert Index(index.layout, "n").get(entry.key) == entry
    assert list(index.layout.tmp("n").iterdir()) == []


def test_several_keys_share_one_blob(index: Index) -> None:
    digest = Digest.of(b"same bytes")
    for key in ("http:https://a/x", "http:https://b/y"):
        index.put(IndexEntry(key=key, digest=digest, size=10))
    assert index.referenced() == {digest}
    assert sorted(e.key for e in index.entries()) == ["http:https://a/x", "http:https://b/y"]


def test_delete_and_missing(index: Index) -> None:
    assert index.get("http:https://nope") is None
    index.put(IndexEntry(key="http:https://h/a", digest=Digest.of(b"a"), size=1))
    assert index.delete("http:https://h/a") is True
    assert index.get("http:https://h/a") is None


@pytest.mark.parametrize("key", ["no-namespace", ":x", "http:", "http:a\x00b", "http:" + "x" * 9000, "../x:y"])
def test_bad_keys_are_refused(index: Index, key: str) -> None:
    with pytest.raises(InvalidKey):
        index.get(key)


def test_unreadable_records_are_skipped(index: Index) -> None:
    index.put(IndexEntry(key="http:https://h/a", digest=Digest.of(b"a"), size=1))
    junk = index.layout.index / "00" / ("0" * 64 + ".json")
    junk.parent.mkdir(parents=True, exist_ok=True)
    junk.write_text("{not json")
    assert [e.key for e in index.entries()] == ["http:https://h/a"]
