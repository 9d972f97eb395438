"""The ``hf://`` model URL grammar."""

from __future__ import annotations

import pytest

from adapters.hf.urls import HfUrl, parse
from proxy.control.urls import InvalidUrl


@pytest.mark.parametrize(("text", "expected"), [
    ("hf://org/repo", HfUrl("model", "org/repo")),
    ("hf://org/repo/", HfUrl("model", "org/repo")),
    ("hf://org/repo@main", HfUrl("model", "org/repo", "main")),
    ("hf://org/repo@v1.0/weights/model.safetensors", HfUrl("model", "org/repo", "v1.0", "weights/model.safetensors")),
    ("hf://org/repo/config.json", HfUrl("model", "org/repo", None, "config.json")),
    ("hf://datasets/org/data@" + "a" * 40, HfUrl("dataset", "org/data", "a" * 40)),
    ("hf://spaces/org/app/app.py", HfUrl("space", "org/app", None, "app.py")),
    ("HF://org/repo", HfUrl("model", "org/repo")),
])
def test_parses(text: str, expected: HfUrl) -> None:
    assert parse(text) == expected


@pytest.mark.parametrize("text", [
    "hf://org", "hf://datasets/org", "hf://org/repo@", "hf://org/../repo",
    "hf://org/repo/a//b", "hf://org/repo/../x", "hf://-org/repo", "hf://org/re po", "hf://org/repo@a..b",
    "hf://org/repo\x00",
])
def test_refuses(text: str) -> None:
    with pytest.raises(InvalidUrl):
        parse(text)


@pytest.mark.parametrize("text", ["hf://org/repo", "hf://datasets/org/data@main/a/b.txt", "hf://spaces/o/s@v1"])
def test_round_trips(text: str) -> None:
    assert str(parse(text)) == text


def test_at_pins_a_revision() -> None:
    url = parse("hf://org/repo/sub")
    assert url.ref == "main"
    assert str(url.at("c" * 40)) == f"hf://org/repo@{'c' * 40}/sub"


def test_the_core_sees_scheme_and_version() -> None:
    assert (parse("hf://org/repo@v1").scheme, parse("hf://org/repo@v1").version) == ("hf", "v1")
    assert parse("hf://org/repo").version is None
