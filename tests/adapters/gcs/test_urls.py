"""The ``gs://`` model URL grammar, with properties over generated names."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from adapters.gcs.api import endpoint_from
from adapters.gcs.urls import GsUrl, parse, valid_bucket
from proxy.control.urls import InvalidUrl

BUCKETS = st.from_regex(r"[a-z0-9][a-z0-9_-]{1,30}[a-z0-9]", fullmatch=True)
SEGMENTS = st.text(st.characters(codec="utf-8", exclude_characters="/\\\r\n", exclude_categories=["C"]),
                   min_size=1, max_size=20).filter(lambda s: s not in (".", "..") and s.isprintable())


@pytest.mark.parametrize(("text", "expected"), [
    ("gs://models", GsUrl("models", "")),
    ("gs://models/llama/", GsUrl("models", "llama/")),
    ("gs://my_bucket.example.com/llama/model.safetensors", GsUrl("my_bucket.example.com", "llama/model.safetensors")),
])
def test_parses(text: str, expected: GsUrl) -> None:
    assert parse(text) == expected


@pytest.mark.parametrize("text", [
    "gs://", "gs://UPPER/key", "gs://ab/key", "gs://bucket/../etc", "gs://bucket/a/./b", "gs://a..b/k",
    "gs://" + "a" * 64 + "/k", "s3://bucket/k", "gs://bucket/a\\b",
])
def test_refuses(text: str) -> None:
    with pytest.raises(InvalidUrl):
        parse(text)


@given(BUCKETS, st.lists(SEGMENTS, max_size=4), st.booleans())
def test_generated_urls_round_trip(bucket: str, parts: list[str], folder: bool) -> None:
    key = "/".join(parts) + ("/" if folder and parts else "")
    url = parse(f"gs://{bucket}/{key}")
    assert (url.bucket, url.key, url.scheme, url.version) == (bucket, key, "gs", None)
    assert parse(str(url)) == url


@given(st.text(max_size=80))
def test_any_text_parses_or_is_an_invalid_url(text: str) -> None:
    try:
        url = parse("gs://" + text)
    except InvalidUrl:
        return
    assert valid_bucket(url.bucket)
    assert ".." not in url.key.split("/")


@pytest.mark.parametrize(("setting", "environ", "endpoint"), [
    (None, {}, "https://storage.googleapis.com"),
    (None, {"STORAGE_EMULATOR_HOST": "127.0.0.1:4443"}, "http://127.0.0.1:4443"),
    (None, {"STORAGE_EMULATOR_HOST": "http://gcs:9000/"}, "http://gcs:9000"),
    ("https://gcs.internal", {"STORAGE_EMULATOR_HOST": "127.0.0.1:4443"}, "https://gcs.internal"),
])
def test_the_endpoint_is_the_setting_then_the_emulator_variable(setting: str | None, environ: dict[str, str],
                                                                 endpoint: str) -> None:
    assert str(endpoint_from(setting, environ)) == endpoint
