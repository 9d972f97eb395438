"""The one URL parser of the control API and the CLI."""

from __future__ import annotations

import pytest
from yarl import URL

from proxy.control.urls import HfUrl, HttpUrl, InvalidUrl, S3Url, parse_url


@pytest.mark.parametrize(("text", "expected"), [
    ("hf://org/repo", HfUrl("model", "org/repo")),
    ("hf://org/repo/", HfUrl("model", "org/repo")),
    ("hf://org/repo@main", HfUrl("model", "org/repo", "main")),
    ("hf://org/repo@v1.0/weights/model.safetensors", HfUrl("model", "org/repo", "v1.0", "weights/model.safetensors")),
    ("hf://org/repo/config.json", HfUrl("model", "org/repo", None, "config.json")),
    ("hf://datasets/org/data@" + "a" * 40, HfUrl("dataset", "org/data", "a" * 40)),
    ("hf://spaces/org/app/app.py", HfUrl("space", "org/app", None, "app.py")),
    ("HF://org/repo", HfUrl("model", "org/repo")),
    ("s3://models", S3Url("models", "")),
    ("s3://models/llama/", S3Url("models", "llama/")),
    ("s3://my.bucket-1/llama/model.safetensors", S3Url("my.bucket-1", "llama/model.safetensors")),
    ("https://example.com/a/b.bin?x=1", HttpUrl(URL("https://example.com/a/b.bin?x=1"))),
    ("http://10.0.0.5:9000/f#frag", HttpUrl(URL("http://10.0.0.5:9000/f"))),
])
def test_parses(text: str, expected: object) -> None:
    assert parse_url(text) == expected


@pytest.mark.parametrize("text", [
    "", "org/repo", "ftp://host/file", "hf://org", "hf://datasets/org", "hf://org/repo@", "hf://org/../repo",
    "hf://org/repo/a//b", "hf://org/repo/../x", "hf://-org/repo", "hf://org/re po", "hf://org/repo@a..b",
    "s3://", "s3://A_Bad_Bucket/key", "s3://b/key", "s3://bucket/../etc", "s3://bucket/a/./b",
    "https://user:pw@example.com/x", "https:///nohost", "hf://org/repo\x00",
])
def test_refuses(text: str) -> None:
    with pytest.raises(InvalidUrl):
        parse_url(text)


@pytest.mark.parametrize("text", ["hf://org/repo", "hf://datasets/org/data@main/a/b.txt", "hf://spaces/o/s@v1",
                                  "s3://bucket/prefix/", "https://example.com/x.bin"])
def test_round_trips(text: str) -> None:
    assert str(parse_url(text)) == text


def test_at_pins_a_revision() -> None:
    url = parse_url("hf://org/repo/sub")
    assert isinstance(url, HfUrl)
    assert url.ref == "main"
    assert str(url.at("c" * 40)) == f"hf://org/repo@{'c' * 40}/sub"
