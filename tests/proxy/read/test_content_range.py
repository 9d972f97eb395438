"""``ContentRange.parse``: the one parser of an upstream 206's ``Content-Range`` (RFC 9110 §14.4)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from proxy.read.ranges import ByteRange, ContentRange

sizes = st.integers(min_value=1, max_value=10**15)


@st.composite
def ranges_of(draw: st.DrawFn) -> tuple[ByteRange, int]:
    size = draw(sizes)
    start = draw(st.integers(min_value=0, max_value=size - 1))
    end = draw(st.integers(min_value=start + 1, max_value=size))
    return ByteRange(start, end), size


@given(ranges_of())
def test_reads_back_what_byte_range_writes(drawn: tuple[ByteRange, int]) -> None:
    rng, size = drawn
    assert ContentRange.parse(rng.content_range(size)) == ContentRange(rng.start, rng.end, size)


@given(st.integers(min_value=0, max_value=10**15), st.integers(min_value=0, max_value=10**6))
def test_unknown_complete_length(start: int, length: int) -> None:
    assert ContentRange.parse(f"bytes {start}-{start + length}/*") == ContentRange(start, start + length + 1, None)


@given(st.text(max_size=60))
def test_anything_else_is_none_or_a_consistent_range(text: str) -> None:
    parsed = ContentRange.parse(text)
    if parsed is not None:
        assert 0 <= parsed.start < parsed.end
        assert parsed.size is None or parsed.end <= parsed.size
        assert text.strip().lower().startswith("bytes ")


@given(st.integers(min_value=0, max_value=10**9), st.integers(min_value=1, max_value=10**9))
def test_last_before_first_is_refused(last: int, gap: int) -> None:
    assert ContentRange.parse(f"bytes {last + gap}-{last}/*") is None


@given(ranges_of())
def test_a_range_past_the_complete_length_is_refused(drawn: tuple[ByteRange, int]) -> None:
    rng, size = drawn
    assert ContentRange.parse(f"bytes {rng.start}-{size}/{size}") is None


@pytest.mark.parametrize("header", [None, "", "bytes */1000", "items 0-1/2", "bytes 0-/10", "bytes -5/10",
                                    "bytes 5-1/10", "bytes 0-9/", "bytes 0-9/abc", "bytes=0-9/10", "bytes ١-٢/3",
                                    "bytes 0-9/10, bytes 20-29/10", "bytes 0-" + "9" * 30 + "/*"])
def test_refuses(header: str | None) -> None:
    assert ContentRange.parse(header) is None


@pytest.mark.parametrize(("header", "expected"), [
    ("bytes 0-99/1000", ContentRange(0, 100, 1000)),
    ("BYTES 5-5/6", ContentRange(5, 6, 6)),
    (" bytes 10-19/* ", ContentRange(10, 20, None)),
])
def test_parses(header: str, expected: ContentRange) -> None:
    assert ContentRange.parse(header) == expected
