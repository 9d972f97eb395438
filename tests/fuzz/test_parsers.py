"""Property-based tests over the request parsers of every adapter: whatever a client sends, a parser
returns a value or raises a domain error that the adapter renders as a 4xx, never anything else
(which would be a 500 with a traceback).

The ``@example`` lines are the corpus: inputs that once escaped as the wrong exception.
"""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from adapters.hf.repo import parse_api, parse_resolve, split_raw
from adapters.http.target import parse_target
from adapters.s3 import address, sigv4
from adapters.s3.auth import ClientKeys, SignedRequest, authenticate
from adapters.s3.wire import S3Fault
from proxy.errors import MalformedRange, ProxyError, RangeNotSatisfiable
from proxy.read.conditional import Representation, evaluate
from proxy.read.ranges import ByteRange

FUZZ = settings(max_examples=300, deadline=None)
digits = st.text(alphabet="0123456789", max_size=6000)
range_text = st.one_of(
    st.text(max_size=200),
    st.builds(lambda a, b: f"bytes={a}-{b}", digits, digits),
    st.builds(lambda a, b, c: f"bytes={a}-{b},{c}", digits, digits, st.text(max_size=20)),
)
escapes = st.lists(st.one_of(st.text(max_size=8), st.binary(min_size=1, max_size=4).map(
    lambda b: "".join(f"%{x:02X}" for x in b))), max_size=12).map("".join)


@FUZZ
@given(header=range_text, size=st.integers(min_value=0, max_value=1 << 62))
@example(header="bytes=" + "9" * 5000 + "-", size=100)
@example(header="bytes=0-" + "9" * 5000, size=100)
@example(header="bytes=-" + "9" * 5000, size=100)
@example(header="bytes=١-٢", size=100)
def test_range_parses_or_is_malformed(header: str, size: int) -> None:
    try:
        rng = ByteRange.parse(header, size)
    except (MalformedRange, RangeNotSatisfiable):
        return
    assert rng is None or 0 <= rng.start < rng.end <= size


DATES = st.one_of(
    st.text(max_size=60),
    st.sampled_from(["Wed, 21 Oct 2015 07:28:00 -0000", "Wed, 21 Oct 2015 07:28:00 +9999", "Wed, 21 Oct 2015 "
                     "07:28:00 EST", "Wed, 31 Feb 2015 07:28:00 GMT", "Wed, 21 Oct 99999 07:28:00 GMT",
                     "Sunday, 06-Nov-94 08:49:37 GMT", "Sun Nov  6 08:49:37 1994"]),
    st.datetimes(timezones=st.just(UTC)).map(lambda d: d.strftime("%a, %d %b %Y %H:%M:%S GMT")),
)
CONDITIONAL = ("If-Match", "If-None-Match", "If-Modified-Since", "If-Unmodified-Since", "If-Range", "Range")


@FUZZ
@given(method=st.sampled_from(["GET", "HEAD"]),
       headers=st.dictionaries(st.sampled_from(CONDITIONAL), st.one_of(DATES, range_text), max_size=6),
       last_modified=st.one_of(st.none(), DATES), size=st.one_of(st.none(), st.integers(0, 1 << 40)))
@example(method="GET", headers={"If-Modified-Since": "Wed, 21 Oct 2015 07:28:00 -0000"},
         last_modified="Wed, 21 Oct 2015 07:28:00 GMT", size=10)
@example(method="GET", headers={"If-Unmodified-Since": "Wed, 21 Oct 2015 07:28:00 GMT"},
         last_modified="Wed, 21 Oct 2015 07:28:00 -0000", size=10)
def test_conditionals_always_decide(method: str, headers: dict[str, str], last_modified: str | None,
                                    size: int | None) -> None:
    evaluate(method, headers, Representation(size, '"etag"', last_modified, "application/octet-stream"))


@FUZZ
@given(path=escapes, prefixed=st.booleans(), host=st.text(max_size=40))
@example(path="/bucket/%FF%FE", prefixed=False, host="h")
@example(path="/s3/bucket/a%C0%AFb", prefixed=True, host="h")
def test_s3_address_parses_or_is_invalid(path: str, prefixed: bool, host: str) -> None:
    raw = ("/s3" if prefixed and not path.startswith("/s3") else "") + "/" + path.lstrip("/")
    try:
        target = address.parse(raw, host, prefixed=prefixed, virtual_host_suffix="s3.local")
    except ProxyError:
        return
    assert target.key is None or ".." not in target.key.split("/")


KEYS = ClientKeys.parse("AKID:secret")
NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
GOOD_SCOPE = "AKID/20261128/us-east-1/s3/aws4_request"


@FUZZ
@given(signed=st.text(max_size=40), signature=st.text(max_size=80), credential=st.one_of(st.just(GOOD_SCOPE),
       st.text(max_size=60)), amz_date=st.one_of(st.just("20261128T120000Z"), st.text(max_size=20)))
@example(signed="host;x-amz-date", signature="é" * 64, credential=GOOD_SCOPE, amz_date="20261128T120000Z")
@example(signed="x-amz-date", signature="0" * 64, credential=GOOD_SCOPE, amz_date="20261128T120000Z")
def test_sigv4_header_auth_fails_as_s3_faults(signed: str, signature: str, credential: str, amz_date: str) -> None:
    header = f"{sigv4.ALGORITHM} Credential={credential}, SignedHeaders={signed}, Signature={signature}"
    request = SignedRequest("GET", "/bucket/key", [], {"authorization": header, "host": "proxy",
                                                          "x-amz-date": amz_date,
                                                          "x-amz-content-sha256": sigv4.UNSIGNED_PAYLOAD})
    with pytest.raises(S3Fault) as fault:
        authenticate(KEYS, request, NOW)
    assert 400 <= fault.value.error.status < 500


@FUZZ
@given(query=st.lists(st.tuples(st.sampled_from(["X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Date",
                                                  "X-Amz-Expires", "X-Amz-SignedHeaders", "X-Amz-Signature"]),
                                 st.text(max_size=40)), max_size=8))
@example(query=[("X-Amz-Algorithm", sigv4.ALGORITHM), ("X-Amz-Credential", GOOD_SCOPE), ("X-Amz-Date",
                 "20261128T120000Z"), ("X-Amz-Expires", "9" * 5000), ("X-Amz-SignedHeaders", "host"),
                ("X-Amz-Signature", "ü")])
def test_sigv4_presigned_auth_fails_as_s3_faults(query: list[tuple[str, str]]) -> None:
    request = SignedRequest("GET", "/bucket/key", list(query), {"host": "proxy"})
    with pytest.raises(S3Fault) as fault:
        authenticate(KEYS, request, NOW)
    assert 400 <= fault.value.error.status < 500


@FUZZ
@given(raw=escapes)
@example(raw="/org/model/resolve/main/%FF%FE")
@example(raw="/api/models/org/model/revision/%C0%AF")
def test_hf_paths_parse_or_are_invalid(raw: str) -> None:
    path = "/" + raw.lstrip("/")
    for parse in (lambda: parse_resolve(split_raw(path)), lambda: parse_api(split_raw(path)[1:])):
        with contextlib.suppress(ProxyError):
            parse()


@FUZZ
@given(url=st.one_of(st.none(), st.text(max_size=120), st.builds(lambda h, p: f"http://{h}/{p}", st.text(max_size=30),
                                                                 escapes)))
@example(url="http://[::1")
@example(url="http://example.com:99999999999999999999/x")
def test_http_targets_parse_or_are_refused(url: str | None) -> None:
    with contextlib.suppress(ProxyError):
        parse_target(url)
