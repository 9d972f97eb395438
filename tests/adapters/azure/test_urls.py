"""The ``az://`` model URL grammar (and Azure's own https form), with properties over generated names."""

from __future__ import annotations

from urllib.parse import quote

import pytest
from hypothesis import given
from hypothesis import strategies as st

from adapters.azure.urls import AzUrl, is_blob_https, parse
from proxy.control.urls import InvalidUrl

ACCOUNTS = st.from_regex(r"[a-z0-9]{3,24}", fullmatch=True)
CONTAINERS = st.from_regex(r"[a-z0-9]([a-z0-9]|-(?=[a-z0-9])){1,40}[a-z0-9]", fullmatch=True)
SEGMENTS = st.text(st.characters(codec="utf-8", exclude_characters="/\\", exclude_categories=["C"]),
                   min_size=1, max_size=20).filter(lambda s: s not in (".", "..") and s.isprintable())


@pytest.mark.parametrize(("text", "expected"), [
    ("az://acct/models", AzUrl("acct", "models", "")),
    ("az://acct/models/llama/", AzUrl("acct", "models", "llama/")),
    ("https://acct.blob.core.windows.net/models/llama/w.bin", AzUrl("acct", "models", "llama/w.bin")),
    ("https://acct.blob.core.windows.net/models/a%20b.bin", AzUrl("acct", "models", "a b.bin")),
])
def test_parses(text: str, expected: AzUrl) -> None:
    assert parse(text) == expected


@pytest.mark.parametrize("text", [
    "az://", "az://acct", "az://Acct/models", "az://ab/models", "az://acct/Models", "az://acct/a--b/k",
    "az://acct/models/../x", "az://acct/models/a/./b", "https://example.com/models/x",
    "https://acct.blob.core.windows.net/models/x?sv=2020&sig=abc", "https://u:p@acct.blob.core.windows.net/m/x",
    "az://acct/models/" + "x" * 1025,
])
def test_refuses(text: str) -> None:
    with pytest.raises(InvalidUrl):
        parse(text)


@given(ACCOUNTS, CONTAINERS, st.lists(SEGMENTS, max_size=4))
def test_both_spellings_parse_to_one_url(account: str, container: str, parts: list[str]) -> None:
    key = "/".join(parts)
    url = parse(f"az://{account}/{container}/{key}")
    assert (url.account, url.container, url.key) == (account, container, key)
    https = f"https://{account}.blob.core.windows.net/{container}/{quote(key)}"
    assert is_blob_https(https)
    assert parse(https) == url
    assert parse(str(url)) == url


@given(st.text(max_size=80))
def test_any_text_parses_or_is_an_invalid_url(text: str) -> None:
    for candidate in ("az://" + text, "https://acct.blob.core.windows.net/" + text):
        try:
            url = parse(candidate)
        except InvalidUrl:
            continue
        assert ".." not in url.key.split("/")
