from __future__ import annotations

import pytest

from adapters.s3.address import origin_form


@pytest.mark.parametrize(("target", "expected"), [
    ("/bucket/key?x=1", "/bucket/key?x=1"),
    ("http://127.0.0.1:9000/bucket/a%20b?partNumber=1", "/bucket/a%20b?partNumber=1"),
    ("https://s3.example/", "/"),
    ("http://host:1", "/"),
    ("/bucket/http://x/y", "/bucket/http://x/y"),
])
def test_origin_form(target: str, expected: str) -> None:
    assert origin_form(target) == expected
