"""The listing XML the proxy writes for store-routed buckets, read back by the parser the S3 store
uses: any page survives the round trip (keys with spaces, ``+``, ``%``, non-ASCII), and any client
query is either understood or refused with S3's InvalidArgument."""

from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import given, settings
from hypothesis import strategies as st

from adapters.s3 import wire
from adapters.s3.s3store import parse_page
from adapters.s3.storelisting import ListQuery, render
from proxy.objectstore import ObjectPage, StoredObject

keys = st.text(st.characters(codec="utf-8", categories=("L", "N", "P", "S", "Zs")), min_size=1, max_size=40)
stamps = st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)).map(
    lambda d: d.replace(microsecond=d.microsecond // 1000 * 1000))
objects = st.builds(StoredObject, keys, st.integers(0, 1 << 50),
                    st.from_regex(r'"[0-9a-f]{32}(-[0-9]{1,4})?"', fullmatch=True), stamps)
pages = st.builds(ObjectPage, st.lists(objects, max_size=5).map(tuple), st.lists(keys, max_size=3).map(tuple),
                  st.one_of(st.none(), st.from_regex(r"[A-Za-z0-9+/=]{1,40}", fullmatch=True)))


@settings(max_examples=300, deadline=None)
@given(pages, st.booleans())
def test_a_rendered_v2_page_parses_back_to_itself(page: ObjectPage, url_encoded: bool) -> None:
    query = ListQuery(True, "", "/", 1000, None, None, url_encoded)
    assert parse_page(render("bucket", query, page)) == page


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["list-type", "prefix", "delimiter", "max-keys", "continuation-token",
                                           "start-after", "encoding-type", "marker", "fetch-owner"]),
                          st.text(max_size=12)), max_size=6))
def test_any_query_is_understood_or_refused_with_invalid_argument(pairs: list[tuple[str, str]]) -> None:
    try:
        query = ListQuery.parse(pairs)
    except wire.S3Fault as exc:
        code = exc.error.code
    else:
        code = "parsed"
        assert 0 <= query.max_keys <= 1000
        assert query.delimiter != ""
    assert code in ("parsed", "InvalidArgument")


def test_prefixes_already_returned_are_left_out_and_v1_continues_from_a_key() -> None:
    stamp = datetime(2026, 1, 2, 3, 4, 5, 678000, tzinfo=UTC)
    page = ObjectPage((StoredObject("d/b.txt", 3, '"e"', stamp),), ("d/a/", "d/c/"), "opaque")
    v1 = ListQuery(False, "d/", "/", 2, None, "d/a/", False)
    body = render("bkt", v1, page).decode()
    assert "<Prefix>d/a/</Prefix>" not in body
    assert "<CommonPrefixes><Prefix>d/c/</Prefix></CommonPrefixes>" in body
    assert "<NextMarker>d/c/</NextMarker>" in body
    assert "<LastModified>2026-01-02T03:04:05.678Z</LastModified>" in body
    assert "NextContinuationToken" not in body
