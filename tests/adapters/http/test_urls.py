"""The ``http(s)://`` model URL grammar."""

from __future__ import annotations

import pytest
from yarl import URL

from adapters.http.urls import HttpUrl, parse
from proxy.control.urls import InvalidUrl


@pytest.mark.parametrize(("text", "expected"), [
    ("https://example.com/a/b.bin?x=1", HttpUrl(URL("https://example.com/a/b.bin?x=1"))),
    ("http://10.0.0.5:9000/f#frag", HttpUrl(URL("http://10.0.0.5:9000/f"))),
])
def test_parses(text: str, expected: HttpUrl) -> None:
    assert parse(text) == expected


@pytest.mark.parametrize("text", ["https://user:pw@example.com/x", "https:///nohost"])
def test_refuses(text: str) -> None:
    with pytest.raises(InvalidUrl):
        parse(text)


@pytest.mark.parametrize("text", ["https://example.com/x.bin"])
def test_round_trips(text: str) -> None:
    assert str(parse(text)) == text


def test_the_core_sees_the_scheme_as_written() -> None:
    assert parse("HTTPS://example.com/x").scheme == "https"
    assert parse("http://example.com/x").scheme == "http"
