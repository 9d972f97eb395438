"""Who gets the dashboard at ``/``: pure decisions, no server."""

from __future__ import annotations

import pytest

from adapters.ui.negotiate import accepts_html, wants_dashboard

FIREFOX = {"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
           "User-Agent": "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"}


@pytest.mark.parametrize(("accept", "expected"), [
    ("text/html", True),
    ("TEXT/HTML; charset=utf-8", True),
    ("application/json, text/html;q=0.5", True),
    ("text/html;q=0", False),
    ("text/html;q=0.0", False),
    ("*/*", False),
    ("text/*", False),
    ("", False),
    ("application/json", False),
])
def test_accepts_html(accept: str, expected: bool) -> None:
    assert accepts_html(accept) is expected


def test_a_browser_gets_the_dashboard() -> None:
    assert wants_dashboard("GET", FIREFOX)
    assert wants_dashboard("HEAD", FIREFOX)


@pytest.mark.parametrize("headers", [
    {**FIREFOX, "User-Agent": "huggingface_hub/1.1.0; python/3.11.9; torch/2.13.0"},
    {**FIREFOX, "User-Agent": "unknown/None; hf_hub/0.26.0; python/3.11.9"},
    {**FIREFOX, "User-Agent": "Boto3/1.36.0 md/Botocore#1.36.0 ua/2.0 os/linux"},
    {**FIREFOX, "User-Agent": "curl/8.5.0"},
    {**FIREFOX, "Authorization": "Bearer hf_abc"},
    {**FIREFOX, "X-Amz-Date": "20260101T000000Z"},
    {**FIREFOX, "Range": "bytes=0-1"},
    {"User-Agent": FIREFOX["User-Agent"]},
    {"Accept": "*/*", "User-Agent": FIREFOX["User-Agent"]},
])
def test_clients_and_non_html_requests_do_not(headers: dict[str, str]) -> None:
    assert not wants_dashboard("GET", headers)


def test_only_get_and_head() -> None:
    assert not wants_dashboard("POST", FIREFOX)
    assert not wants_dashboard("PUT", FIREFOX)
