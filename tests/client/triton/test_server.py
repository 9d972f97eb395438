"""What the commands print of a server's error: Triton's ``{"error"}``, a KServe server's
``{"detail"}``, or a traceback's last line (property-based), and which URLs they accept."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from modelmanager_client.triton.server import Triton, TritonError, server_message

TEXT = st.from_regex(r"[A-Za-z0-9_.:'()\-]([A-Za-z0-9 _.:'()\-]{0,60}[A-Za-z0-9_.:'()\-])?", fullmatch=True)


@given(st.sampled_from(["error", "detail", "message"]), TEXT)
def test_a_json_error_body_gives_its_message(key: str, message: str) -> None:
    assert server_message("an exception occurred in the client", json.dumps({key: message})) == message


@given(st.lists(TEXT, min_size=1, max_size=6), TEXT)
def test_a_traceback_gives_its_last_line(lines: list[str], last: str) -> None:
    body = "Traceback (most recent call last):\n" + "\n".join(f"  {line}" for line in lines) + f"\n{last}\n\n"
    assert server_message("wrapped", body) == last


@given(TEXT)
def test_without_a_body_the_message_is_kept(message: str) -> None:
    assert server_message(message, None) == message


@pytest.mark.parametrize("url", ["ftp://host:1", "http://", "grpc://"])
def test_bad_urls_are_refused(url: str) -> None:
    with pytest.raises(TritonError, match="--triton-url must be"):
        Triton(url)


def test_default_ports() -> None:
    with Triton("grpc://triton") as grpc_one, Triton("triton") as http_one, Triton("https://t:9") as tls:
        assert (grpc_one.grpc, grpc_one.address) == (True, "triton:8001")
        assert (http_one.grpc, http_one.address) == (False, "triton:8000")
        assert tls.address == "t:9"
