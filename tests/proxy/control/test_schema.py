"""Control API request bodies (``proxy.control.schema``): strict types, bounds, and 400s that name the field."""

from __future__ import annotations

from typing import Any

import pytest

from proxy.control.guard import Refused
from proxy.control.schema import PinRequest, PrefetchRequest, WatchRequest, parse
from proxy.control.watches import MAX_GRACE, MAX_INTERVAL, MIN_INTERVAL


def test_prefetch_defaults_one_pattern_and_a_blank_token() -> None:
    body = parse(PrefetchRequest, {"url": "hf://org/m", "allow_patterns": "*.json", "token": "", "other": 1})
    assert (body.url, body.pin, body.allow_patterns, body.ignore_patterns, body.token) == (
        "hf://org/m", False, ["*.json"], [], None)
    assert parse(PrefetchRequest, {"url": "u", "ignore_patterns": None, "pin": True}).pin is True
    assert parse(PinRequest, {"url": "u", "token": "t"}).token == "t"


def test_watch_numbers_are_bounded_and_default_to_none() -> None:
    assert (parse(WatchRequest, {"url": "u"}).interval, parse(WatchRequest, {"url": "u"}).grace) == (None, None)
    edge = parse(WatchRequest, {"url": "u", "interval": MIN_INTERVAL, "grace": MAX_GRACE})
    assert (edge.interval, edge.grace) == (MIN_INTERVAL, MAX_GRACE)
    assert parse(WatchRequest, {"url": "u", "interval": int(MAX_INTERVAL)}).interval == MAX_INTERVAL


@pytest.mark.parametrize(("model", "body", "field"), [
    (PrefetchRequest, {}, "url"), (PrefetchRequest, {"url": ""}, "url"), (PrefetchRequest, {"url": 5}, "url"),
    (PrefetchRequest, {"url": "u", "pin": 1}, "pin"), (PrefetchRequest, {"url": "u", "pin": "true"}, "pin"),
    (PrefetchRequest, {"url": "u", "allow_patterns": [1]}, "allow_patterns"),
    (PrefetchRequest, {"url": "u", "ignore_patterns": {"a": 1}}, "ignore_patterns"),
    (PrefetchRequest, {"url": "u", "token": 3}, "token"), (PinRequest, {"url": None}, "url"),
    (WatchRequest, {"url": "u", "interval": "60"}, "interval"),
    (WatchRequest, {"url": "u", "interval": True}, "interval"),
    (WatchRequest, {"url": "u", "interval": MIN_INTERVAL - 1}, "interval"),
    (WatchRequest, {"url": "u", "interval": MAX_INTERVAL + 1}, "interval"),
    (WatchRequest, {"url": "u", "grace": -1}, "grace"), (WatchRequest, {"url": "u", "grace": 1e300}, "grace"),
    (WatchRequest, {"url": "u", "grace": float("inf")}, "grace"),
])
def test_bad_values_are_400_naming_the_field(model: Any, body: dict[str, Any], field: str) -> None:
    with pytest.raises(Refused) as refused:
        parse(model, body)
    assert refused.value.status == 400
    assert refused.value.message.startswith(f"{field}"), refused.value.message
