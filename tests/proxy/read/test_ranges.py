from __future__ import annotations

import pytest

from proxy.errors import MalformedRange, RangeNotSatisfiable
from proxy.read.ranges import ByteRange


@pytest.mark.parametrize(("header", "expected"), [
    ("bytes=0-99", ByteRange(0, 100)),
    ("bytes=100-", ByteRange(100, 1000)),
    ("bytes=-10", ByteRange(990, 1000)),
    ("bytes=-5000", ByteRange(0, 1000)),
    ("bytes=990-5000", ByteRange(990, 1000)),
    ("BYTES = 5-5", ByteRange(5, 6)),
])
def test_single_ranges(header: str, expected: ByteRange) -> None:
    assert ByteRange.parse(header, 1000) == expected


def test_content_range() -> None:
    assert ByteRange(0, 100).content_range(1000) == "bytes 0-99/1000"


def test_several_ranges_mean_the_whole_representation() -> None:
    assert ByteRange.parse("bytes=0-1,5-6", 1000) is None


@pytest.mark.parametrize("header", ["bytes=", "bytes=-", "items=0-1", "bytes=5-1", "bytes=a-b", "bytes=0-1,",
                                    "bytes=١-٢"])
def test_malformed(header: str) -> None:
    with pytest.raises(MalformedRange):
        ByteRange.parse(header, 1000)


@pytest.mark.parametrize(("header", "size"), [("bytes=1000-", 1000), ("bytes=-0", 1000), ("bytes=-5", 0)])
def test_unsatisfiable(header: str, size: int) -> None:
    with pytest.raises(RangeNotSatisfiable) as info:
        ByteRange.parse(header, size)
    assert info.value.size == size
