"""The control channel's parsers and its authentication, property-tested (no UCX needed)."""

from __future__ import annotations

import json

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from modelmanager_client.ucx import wire
from modelmanager_client.ucx.tuning import defaults


@given(st.binary(max_size=300))
@example(b"")
@example(b"[1, 2]\n")
@example(b'{"a": 1}')
@example(b"\xff\n")
def test_decode_returns_an_object_or_raises_wire_error(line: bytes) -> None:
    try:
        message = wire.decode(line)
    except wire.WireError:
        return
    assert isinstance(message, dict)
    assert line.endswith(b"\n")


@given(st.dictionaries(st.text(max_size=10), st.one_of(st.integers(), st.text(max_size=20), st.booleans()),
                       max_size=5))
def test_encode_then_decode_is_the_identity(message: dict[str, object]) -> None:
    encoded = wire.encode(message)
    assert encoded.count(b"\n") == 1  # one line, whatever the strings hold
    assert wire.decode(encoded) == message


@given(st.text(max_size=40))
@example("host:13337")
@example("[::1]:13337")
@example("host:0")
@example(":80")
@example("host:65536")
def test_parse_address_gives_a_host_and_a_port_or_value_error(text: str) -> None:
    try:
        host, port = wire.parse_address(text)
    except ValueError:
        return
    assert host
    assert 0 < port < 65536


def test_port_zero_only_to_listen_on() -> None:
    with pytest.raises(ValueError, match="host:port"):
        wire.parse_address("0.0.0.0:0")
    assert wire.parse_address("0.0.0.0:0", any_port=True) == ("0.0.0.0", 0)


@given(st.text(min_size=1, max_size=30), st.text(min_size=1, max_size=30))
def test_a_mac_proves_the_secret_the_role_and_the_nonce(secret: str, other: str) -> None:
    nonce = wire.nonce()
    given_mac = wire.mac(secret, "client", nonce)
    assert wire.mac_ok(secret, "client", nonce, given_mac)
    assert not wire.mac_ok(secret, "sidecar", nonce, given_mac), "a client's answer is not a sidecar's"
    assert not wire.mac_ok(secret, "client", wire.nonce(), given_mac), "nor an answer to another nonce"
    assert not wire.mac_ok(secret, "client", nonce, None)
    if other != secret:
        assert not wire.mac_ok(other, "client", nonce, given_mac)


def test_messages_are_json_lines() -> None:
    assert json.loads(wire.encode({"op": "get", "offset": 1})) == {"op": "get", "offset": 1}


@pytest.mark.parametrize(("environ", "expected"), [
    ({}, {"UCX_WARN_UNUSED_ENV_VARS": "n"}),
    ({"UCX_TLS": "tcp,self"}, {"UCX_WARN_UNUSED_ENV_VARS": "n", "UCX_RNDV_SCHEME": "put_zcopy"}),
    ({"UCX_TLS": "cma,tcp,self"}, {"UCX_WARN_UNUSED_ENV_VARS": "n"}),
    ({"UCX_TLS": "tcp", "UCX_RNDV_SCHEME": "auto", "UCX_WARN_UNUSED_ENV_VARS": "y"}, {}),
])
def test_ucx_defaults_fill_only_what_the_environment_leaves_unset(environ: dict[str, str],
                                                                  expected: dict[str, str]) -> None:
    assert defaults(environ) == expected
