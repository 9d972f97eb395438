"""Pin records on the volume and the digests live pins keep."""

from __future__ import annotations

import json
from pathlib import Path

from proxy.control.pins import Pin, Pins, pinned_digests
from proxy.digest import Digest
from proxy.storage.index import IndexEntry
from proxy.storage.layout import Layout
from proxy.storage.records import RecordStore


def entry(key: str, content: bytes) -> IndexEntry:
    return IndexEntry(key=key, digest=Digest.of(content), size=len(content))


def test_live_pins_keep_the_digests_under_their_prefixes() -> None:
    commit = "c" * 40
    entries = [entry(f"hf:model/org/m@{commit}/a", b"a"), entry(f"hf:model/org/m@{'d' * 40}/a", b"old"),
               entry("s3:bucket/llama/x", b"x"), entry("s3:bucket/llama2/y", b"y")]
    pins = [Pin(url="hf://org/m", version=commit, prefixes=(f"hf:model/org/m@{commit}/",), created_at=0.0),
            Pin(url="s3://bucket/llama/", version="f", prefixes=("s3:bucket/llama/",), created_at=0.0),
            Pin(url="hf://org/m", version="d" * 40, prefixes=(f"hf:model/org/m@{'d' * 40}/",), created_at=0.0,
                expires_at=100.0)]
    assert pinned_digests(pins, entries, now=50.0) == {Digest.of(b"a"), Digest.of(b"x"), Digest.of(b"old")}
    assert pinned_digests(pins, entries, now=100.0) == {Digest.of(b"a"), Digest.of(b"x")}


def test_records_round_trip_and_leave_no_temp_files(tmp_path: Path) -> None:
    layout = Layout(tmp_path)
    layout.ensure("n1")
    pins = Pins(RecordStore(layout, "n1", "pins"))
    first = Pin(url="hf://org/m", version="a" * 40, prefixes=("hf:model/org/m@" + "a" * 40 + "/",), created_at=1.0,
                public=True)
    pins.put(first)
    pins.put(Pin(url="hf://org/m", version="b" * 40, prefixes=("p",), created_at=2.0, expires_at=10.0, reason="watch"))
    assert Pins(RecordStore(layout, "n1", "pins")).all() == pins.known
    assert [p.version for p in pins.all()] == ["a" * 40, "b" * 40]
    assert list(layout.tmp("n1").iterdir()) == []
    record = json.loads(next((tmp_path / "pins").glob("*.json")).read_text())
    assert record["url"] == "hf://org/m"
    assert [p.version for p in pins.expire(now=10.0)] == ["b" * 40]
    assert [p.version for p in pins.remove("hf://org/m")] == ["a" * 40]
    assert pins.all() == pins.known == []
