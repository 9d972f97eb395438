from __future__ import annotations

import pytest

from proxy.read.conditional import (
    Decision,
    Full,
    NeedSize,
    NotModified,
    Partial,
    PreconditionFailed,
    Representation,
    Unsatisfiable,
    evaluate,
)
from proxy.read.ranges import ByteRange

REP = Representation(1000, '"abc"', "Tue, 03 Nov 2026 10:00:00 GMT")
EARLIER, LATER = "Mon, 02 Nov 2026 10:00:00 GMT", "Wed, 04 Nov 2026 10:00:00 GMT"


@pytest.mark.parametrize(("method", "headers", "expected"), [
    ("GET", {}, Full()),
    ("GET", {"If-None-Match": '"abc"'}, NotModified()),
    ("HEAD", {"If-None-Match": 'W/"abc"'}, NotModified()),
    ("GET", {"If-None-Match": '"x", "abc"'}, NotModified()),
    ("GET", {"If-None-Match": "*"}, NotModified()),
    ("GET", {"If-None-Match": '"x"'}, Full()),
    ("GET", {"If-None-Match": '"x"', "If-Modified-Since": LATER}, Full()),  # INM wins over IMS
    ("GET", {"If-Modified-Since": LATER}, NotModified()),
    ("GET", {"If-Modified-Since": REP.last_modified or ""}, NotModified()),
    ("GET", {"If-Modified-Since": EARLIER}, Full()),
    ("GET", {"If-Modified-Since": "garbage"}, Full()),
    ("GET", {"If-Match": '"abc"'}, Full()),
    ("GET", {"If-Match": 'W/"abc"'}, PreconditionFailed()),  # If-Match compares strongly
    ("GET", {"If-Match": '"x"'}, PreconditionFailed()),
    ("GET", {"If-Unmodified-Since": EARLIER}, PreconditionFailed()),
    ("GET", {"If-Unmodified-Since": LATER}, Full()),
    ("GET", {"Range": "bytes=0-9"}, Partial(ByteRange(0, 10))),
    ("HEAD", {"Range": "bytes=0-9"}, Full()),
    ("GET", {"Range": "bytes=2000-"}, Unsatisfiable(1000)),
    ("GET", {"Range": "nonsense"}, Full()),
    ("GET", {"Range": "bytes=0-9", "If-Range": '"abc"'}, Partial(ByteRange(0, 10))),
    ("GET", {"Range": "bytes=0-9", "If-Range": 'W/"abc"'}, Full()),
    ("GET", {"Range": "bytes=0-9", "If-Range": '"old"'}, Full()),
    ("GET", {"Range": "bytes=0-9", "If-Range": REP.last_modified or ""}, Partial(ByteRange(0, 10))),
    ("GET", {"Range": "bytes=0-9", "If-Range": EARLIER}, Full()),
])
def test_evaluate(method: str, headers: dict[str, str], expected: Decision) -> None:
    assert evaluate(method, headers, REP) == expected


def test_range_with_unknown_size_needs_the_size() -> None:
    assert evaluate("GET", {"Range": "bytes=0-9"}, Representation(None, '"abc"')) == NeedSize()


def test_no_validators_never_match() -> None:
    bare = Representation(10)
    assert evaluate("GET", {"If-None-Match": '"abc"', "If-Modified-Since": LATER}, bare) == Full()
    assert evaluate("GET", {"If-Match": '"abc"'}, bare) == PreconditionFailed()
