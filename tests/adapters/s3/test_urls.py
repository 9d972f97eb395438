"""The ``s3://`` model URL grammar."""

from __future__ import annotations

import pytest

from adapters.s3.urls import S3Url, parse
from proxy.control.urls import InvalidUrl


@pytest.mark.parametrize(("text", "expected"), [
    ("s3://models", S3Url("models", "")),
    ("s3://models/llama/", S3Url("models", "llama/")),
    ("s3://my.bucket-1/llama/model.safetensors", S3Url("my.bucket-1", "llama/model.safetensors")),
])
def test_parses(text: str, expected: S3Url) -> None:
    assert parse(text) == expected


@pytest.mark.parametrize("text", [
    "s3://", "s3://A_Bad_Bucket/key", "s3://b/key", "s3://bucket/../etc", "s3://bucket/a/./b",
])
def test_refuses(text: str) -> None:
    with pytest.raises(InvalidUrl):
        parse(text)


@pytest.mark.parametrize("text", ["s3://bucket/prefix/"])
def test_round_trips(text: str) -> None:
    assert str(parse(text)) == text


def test_the_core_sees_scheme_and_no_version() -> None:
    assert (parse("s3://bucket/k").scheme, parse("s3://bucket/k").version) == ("s3", None)
