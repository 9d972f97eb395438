"""The objects.list parser and the S3-like ETag, with properties over generated answers."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from adapters.gcs.listing import checksums, etag, parse_hash_header, parse_page
from proxy.errors import UpstreamUnavailable

NAMES = st.text(min_size=1, max_size=30)
ITEMS = st.fixed_dictionaries({
    "name": NAMES, "size": st.integers(0, 1 << 40).map(str), "generation": st.integers(1, 1 << 60).map(str),
    "updated": st.just("2026-01-02T03:04:05.678Z"),
}, optional={"md5Hash": st.binary(min_size=16, max_size=16).map(lambda b: base64.b64encode(b).decode())})


@given(st.lists(ITEMS, max_size=20, unique_by=lambda i: i["name"]), st.lists(NAMES, max_size=5, unique=True),
       st.none() | st.text(min_size=1, max_size=20))
def test_generated_pages_parse(items: list[dict[str, str]], prefixes: list[str], token: str | None) -> None:
    body: dict[str, Any] = {"items": items, "prefixes": prefixes}
    if token:
        body["nextPageToken"] = token
    page = parse_page(json.loads(json.dumps(body)))
    assert [o.key for o in page.objects] == sorted(i["name"] for i in items)
    assert page.prefixes == tuple(sorted(prefixes))
    assert page.next_token == token
    for obj in page.objects:
        item = next(i for i in items if i["name"] == obj.key)
        assert obj.size == int(item["size"])
        md5 = item.get("md5Hash")
        assert obj.etag == (f'"{base64.b64decode(md5).hex()}"' if md5 else f'"g{item["generation"]}"')
        assert obj.last_modified.year == 2026


@given(st.lists(ITEMS, min_size=1, max_size=10, unique_by=lambda i: i["name"]))
def test_start_after_leaves_out_the_named_object_only(items: list[dict[str, str]]) -> None:
    first = min(i["name"] for i in items)
    page = parse_page({"items": items}, start_after=first)
    assert first not in [o.key for o in page.objects]
    assert len(page.objects) == len(items) - 1


@given(st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=10),
                    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.sampled_from(
                        ["items", "prefixes", "nextPageToken", "name", "size", "md5Hash"]), inner, max_size=4),
                    max_leaves=20))
def test_any_json_parses_or_is_upstream_unavailable(body: object) -> None:
    with contextlib.suppress(UpstreamUnavailable):
        parse_page(body)


def test_etag_and_checksums() -> None:
    md5 = hashlib.md5(b"x").digest()
    assert etag(base64.b64encode(md5).decode(), "7") == f'"{md5.hex()}"'
    assert etag(None, "7") == '"g7"'
    assert etag("not base64", "7") == '"g7"'
    assert [c.algorithm for c in checksums(base64.b64encode(md5).decode(), "ipE2qg==")] == ["md5", "crc32c"]
    assert checksums("AAAA", "bad") == ()


@given(st.binary(min_size=4, max_size=4), st.binary(min_size=16, max_size=16))
def test_hash_header_round_trips(crc: bytes, md5: bytes) -> None:
    c, m = base64.b64encode(crc).decode(), base64.b64encode(md5).decode()
    assert parse_hash_header(f"crc32c={c},md5={m}") == {"crc32c": c, "md5": m}
    assert parse_hash_header(f"crc32c={c}, md5={m}") == {"crc32c": c, "md5": m}  # two headers, joined
