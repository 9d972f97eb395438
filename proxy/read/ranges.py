"""Byte ranges: the ``Range`` and ``Content-Range`` headers as values (RFC 9110 §14). Pure, no I/O."""

from __future__ import annotations

import re
from dataclasses import dataclass

from proxy.errors import MalformedRange, RangeNotSatisfiable

_SPEC = re.compile(r"([0-9]*)-([0-9]*)", re.ASCII)
_CONTENT_RANGE = re.compile(r"(?i:bytes) ([0-9]{1,20})-([0-9]{1,20})/([0-9]{1,20}|\*)")
_MAX_DIGITS = 19
"""More digits than any file size can have: such a position is past every end (and ``int`` of
thousands of digits is refused by Python, so it must never be attempted)."""
_HUGE = 10**_MAX_DIGITS


def _position(digits: str) -> int:
    return _HUGE if len(digits.lstrip("0")) > _MAX_DIGITS else int(digits)


@dataclass(frozen=True, slots=True)
class ByteRange:
    """Bytes ``start`` (inclusive) to ``end`` (exclusive) of a representation."""

    start: int
    end: int

    def __post_init__(self) -> None:
        if not 0 <= self.start <= self.end:
            raise ValueError(f"bad byte range {self.start}-{self.end}")

    @property
    def length(self) -> int:
        return self.end - self.start

    def content_range(self, size: int) -> str:
        return f"bytes {self.start}-{self.end - 1}/{size}"

    @classmethod
    def parse(cls, header: str, size: int) -> ByteRange | None:
        """Parse a Range header against a representation of ``size`` bytes.

        Returns None when the header asks for several ranges: we then answer with the whole
        representation, which RFC 9110 §14.2 allows. Raises MalformedRange for syntax errors
        (callers ignore the header, as §14.2 says) and RangeNotSatisfiable when the one range
        asked for starts beyond the end.
        """
        unit, sep, spec = header.partition("=")
        if not sep or unit.strip().lower() != "bytes":
            raise MalformedRange(header)
        parts = [p.strip() for p in spec.split(",")]
        if len(parts) != 1:
            if any(not p for p in parts):
                raise MalformedRange(header)
            return None
        match = _SPEC.fullmatch(parts[0])
        if match is None or not (match[1] or match[2]):
            raise MalformedRange(header)
        first, last = match[1], match[2]
        if not first:  # suffix range: the last N bytes
            n = _position(last)
            if n == 0 or size == 0:
                raise RangeNotSatisfiable(size)
            return cls(max(0, size - n), size)
        start = _position(first)
        end = size if not last else min(_position(last) + 1, size)
        if last and _position(last) < start:
            raise MalformedRange(header)
        if start >= size:
            raise RangeNotSatisfiable(size)
        return cls(start, end)


@dataclass(frozen=True, slots=True)
class ContentRange:
    """A 206 answer's ``Content-Range`` (RFC 9110 §14.4): bytes ``start`` to ``end`` (exclusive)."""

    start: int
    end: int
    size: int | None
    """The complete length; None when the sender wrote ``*`` (unknown)."""

    @classmethod
    def parse(cls, header: str | None) -> ContentRange | None:
        """``bytes <first>-<last>/<complete-length or *>``; None when absent or anything else (an
        unsatisfied ``bytes */<length>``, another unit, last before first, last beyond the length)."""
        match = _CONTENT_RANGE.fullmatch(header.strip()) if header else None
        if match is None:
            return None
        first, last = int(match[1]), int(match[2])
        size = None if match[3] == "*" else int(match[3])
        if last < first or (size is not None and last >= size):
            return None
        return cls(first, last + 1, size)
