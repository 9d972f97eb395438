"""Records written before the pydantic models (index entries and pins on the volume, watch records,
fill records and events in Redis and on the workers' socket) still load, and what is written now
has the same shape. The literals below were written by the hand-written (de)serializers."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pydantic import ValidationError

from adapters.hf.urls import parse as parse_hf
from proxy.cluster.port import FillEvent, FillRecord, Node
from proxy.control.pins import Pins
from proxy.control.watches import Watch
from proxy.digest import Checksum, Digest
from proxy.storage.index import Index
from proxy.storage.layout import Layout
from proxy.storage.records import RecordStore

KEY = "hf:model/org/m@" + "c" * 40 + "/w.bin"
INDEX = ('{"key": "' + KEY + '", "digest": "blake3:6437b3ac38465133ffb63b75273a8db548c558465d79db03fd359c6cd5bd9d85", '
         '"size": 3, "content_type": "application/json", "etag": "\\"e1\\"", "last_modified": "Tue, 01 Oct 2024 '
         '00:00:00 GMT", "checksums": [{"algorithm": "sha256", "hex": "' + "a" * 64 + '"}], "fetched_at": '
         '1700000000.5, "checked_at": 1700000100.25, "immutable": true, "extra": {"x-linked-size": "3"}, "format": 1}')
RECORD = ('{"token": 7, "node": "node-a", "url": "http://10.0.0.1:8080", "tmp": "/cache/tmp/node-a/x.part", '
          '"written": 1024, "meta": {"size": 3, "content_type": "text/plain", "etag": "\\"e1\\"", "last_modified": '
          'null, "immutable": false, "checksums": [["md5", "' + "b" * 32 + '"]], "attributes": [["k", "v"]]}}')
EVENT = ('{"kind":"done","token":7,"record":' + RECORD + ',"entry":' + INDEX + ',"not_modified":true,"error":"",'
         '"error_type":"","rejected":null}')
FAILED = ('{"kind":"failed","token":8,"record":null,"entry":null,"not_modified":false,"error":"boom",'
          '"error_type":"UpstreamRejected","rejected":{"status":404,"body":"x"}}')
PIN = ('{"url": "hf://org/m", "version": "' + "c" * 40 + '", "prefixes": ["hf:model/org/m@' + "c" * 40 + '/"], '
       '"created_at": 1700000000.0, "expires_at": null, "reason": "watch", "public": true}')
WATCH = ('{"url": "hf://org/m", "interval": 60.0, "grace": 3600.0, "version": "' + "c" * 40 + '", "public": false, '
         '"checked_at": 1700000200.0, "switched_at": 1700000100.0, "switches": 2, "last_error": null, "job": "j1"}')


def test_an_index_record_on_the_volume_loads_and_is_written_the_same(tmp_path: Path) -> None:
    layout = Layout(tmp_path)
    layout.ensure("n1")
    index = Index(layout, "n1")
    path = layout.record(KEY)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(INDEX)
    entry = index.get(KEY)
    assert entry is not None
    assert (entry.digest, entry.size, entry.etag, entry.immutable) == (Digest.of(b"abc"), 3, '"e1"', True)
    assert entry.checksums == (Checksum("sha256", "a" * 64),)
    assert entry.extra == {"x-linked-size": "3"}
    assert entry.to_json() == json.loads(INDEX)
    assert list(index.entries()) == [entry]
    path.write_text(INDEX.replace("blake3:6437", "blake3:zz37"))
    assert list(index.entries()) == [], "a record that does not parse is not an entry"


def test_fill_records_and_events_from_before_load() -> None:
    record = FillRecord.from_json(json.loads(RECORD))
    assert (record.token, record.node, record.tmp, record.written) == (
        7, Node("node-a", "http://10.0.0.1:8080"), "/cache/tmp/node-a/x.part", 1024)
    assert record.meta is not None
    assert (record.meta.validators.etag, record.meta.checksums, record.meta.attributes) == (
        '"e1"', (Checksum("md5", "b" * 32),), (("k", "v"),))
    assert record.to_json() == {**json.loads(RECORD), "segmented": False, "landed": []}, "the same shape, fields added"
    event = FillEvent.decode(EVENT)
    assert (event.kind, event.token, event.record, event.not_modified) == ("done", 7, record, True)
    assert event.entry is not None
    assert event.entry.digest == Digest.of(b"abc")
    assert FillEvent.decode(event.encode()) == event
    sent = json.loads(event.encode())
    old = json.loads(EVENT)
    del old["entry"]["format"]
    old["record"] |= {"segmented": False, "landed": []}
    assert sent == old, "the same message, less the index record's format number, plus segmented and landed"
    failed = FillEvent.decode(FAILED)
    assert (failed.kind, failed.error_type, failed.rejected) == (
        "failed", "UpstreamRejected", {"status": 404, "body": "x"})
    assert json.loads(failed.encode()) == json.loads(FAILED)
    with pytest.raises(ValidationError):
        FillEvent.decode(FAILED.replace('"failed"', '"exploded"'))


def test_pin_and_watch_records_from_before_load(tmp_path: Path) -> None:
    layout = Layout(tmp_path)
    layout.ensure("n1")
    store = RecordStore(layout, "n1", "pins")
    store.put("hf://org/m#" + "c" * 40, json.loads(PIN))
    store.put("broken", {"url": "hf://org/x"})
    [pin] = Pins(store).all()
    assert (pin.url, pin.version, pin.reason, pin.public, pin.expires_at) == (
        "hf://org/m", "c" * 40, "watch", True, None)
    assert pin.covers(KEY)
    assert pin.to_json() == json.loads(PIN)
    watch = Watch.from_json(json.loads(WATCH), parse_hf)
    assert (str(watch.url), watch.interval, watch.grace, watch.version, watch.switches) == (
        "hf://org/m", 60.0, 3600.0, "c" * 40, 2)
    assert watch.switched_at == 1700000100.0
    assert watch.to_json() == {**json.loads(WATCH), "checked_at": None, "job": None, "builds": []}, \
        "what a restart does not carry over: the last check and its job"
