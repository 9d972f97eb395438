"""Conditional and range requests (RFC 9110 §13 and §14) evaluated against a representation. Pure."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

from proxy.errors import MalformedRange, RangeNotSatisfiable
from proxy.read.ranges import ByteRange

_ETAG = re.compile(r'\s*(W/)?("[^"]*")\s*(?:,|$)')


@dataclass(frozen=True, slots=True)
class Representation:
    """What a response describes: size (None while unknown), validators, content type."""

    size: int | None
    etag: str | None = None
    last_modified: str | None = None
    content_type: str = "application/octet-stream"


@dataclass(frozen=True, slots=True)
class Full:
    pass


@dataclass(frozen=True, slots=True)
class Partial:
    range: ByteRange


@dataclass(frozen=True, slots=True)
class NotModified:
    pass


@dataclass(frozen=True, slots=True)
class PreconditionFailed:
    pass


@dataclass(frozen=True, slots=True)
class Unsatisfiable:
    size: int


@dataclass(frozen=True, slots=True)
class NeedSize:
    """A range was asked for while the size is still unknown: decide again once it is."""


Decision = Full | Partial | NotModified | PreconditionFailed | Unsatisfiable | NeedSize


def _etags(header: str) -> list[tuple[bool, str]] | None:
    """Parse an entity-tag list into (weak, opaque-tag) pairs; None for ``*``."""
    if header.strip() == "*":
        return None
    tags = []
    pos = 0
    while pos < len(header):
        match = _ETAG.match(header, pos)
        if match is None:
            break  # garbage: keep what parsed so far
        tags.append((match[1] is not None, match[2]))
        pos = match.end()
    return tags


def _split(etag: str) -> tuple[bool, str]:
    return (True, etag[2:]) if etag.startswith("W/") else (False, etag)


def _date(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None  # RFC 9110 §13.1.3: an invalid date is ignored
    # "-0000" (RFC 5322: zone unknown) parses naive; the HTTP-date zone is GMT, so read it as UTC.
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)


def _matches(header: str, etag: str | None, *, weak: bool) -> bool:
    tags = _etags(header)
    if tags is None:
        return True  # "*": any current representation
    if etag is None:
        return False
    mine_weak, mine = _split(etag)
    return any(tag == mine and (weak or not (tag_weak or mine_weak)) for tag_weak, tag in tags)


def evaluate(method: str, headers: Mapping[str, str], rep: Representation) -> Decision:
    """Evaluate preconditions in RFC 9110 §13.2.2 order, then Range (§14.2) for GET."""
    if (value := headers.get("If-Match")) is not None:
        if not _matches(value, rep.etag, weak=False):
            return PreconditionFailed()
    elif (since := _date(headers.get("If-Unmodified-Since"))) is not None:
        modified = _date(rep.last_modified)
        if modified is not None and modified > since:
            return PreconditionFailed()
    if (value := headers.get("If-None-Match")) is not None:
        if _matches(value, rep.etag, weak=True):
            return NotModified() if method in ("GET", "HEAD") else PreconditionFailed()
    elif method in ("GET", "HEAD") and (since := _date(headers.get("If-Modified-Since"))) is not None:
        modified = _date(rep.last_modified)
        if modified is not None and modified <= since:
            return NotModified()
    header = headers.get("Range")
    if method != "GET" or header is None or not _if_range_holds(headers.get("If-Range"), rep):
        return Full()
    if rep.size is None:
        return NeedSize()
    try:
        rng = ByteRange.parse(header, rep.size)
    except MalformedRange:
        return Full()
    except RangeNotSatisfiable as exc:
        return Unsatisfiable(exc.size)
    return Full() if rng is None else Partial(rng)


def _if_range_holds(value: str | None, rep: Representation) -> bool:
    """RFC 9110 §13.1.5: a strong ETag match, or a date equal to Last-Modified."""
    if value is None:
        return True
    value = value.strip()
    if value.startswith(('"', "W/")):
        return not value.startswith("W/") and _matches(value, rep.etag, weak=False)
    date, modified = _date(value), _date(rep.last_modified)
    return date is not None and modified is not None and date == modified
