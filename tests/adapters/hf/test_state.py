"""What the HF adapter remembers: API answers keyed by a hash of the request body, never large bodies."""

from __future__ import annotations

from multidict import CIMultiDict, CIMultiDictProxy

from adapters.hf.client import ApiAnswer
from adapters.hf.state import MAX_MEMO_BODY, HubState, api_key, token_id


def answer(body: bytes) -> ApiAnswer:
    return ApiAnswer(200, CIMultiDictProxy(CIMultiDict({"Content-Type": "application/json"})), body)


def test_api_answers_are_keyed_by_the_body_hash_not_the_body() -> None:
    body = b'{"paths": ["config.json"]}'
    key = api_key(token_id("secret"), "POST", "/api/models/org/repo/paths-info/main", body)
    assert key.body_sha256 is not None
    assert key.body_size == len(body)
    assert "secret" not in key
    assert key == api_key(token_id("secret"), "POST", "/api/models/org/repo/paths-info/main", bytes(body))
    assert key != api_key(token_id("secret"), "POST", "/api/models/org/repo/paths-info/main", body + b" ")
    state = HubState(lambda: 0.0)
    state.api.put(key, answer(b"[]"))
    assert state.api.fresh(key, 10.0) == answer(b"[]")


def test_answers_to_large_bodies_are_not_remembered() -> None:
    state = HubState(lambda: 0.0)
    large = api_key(token_id(None), "POST", "/api/models/o/r/paths-info/main", b"x" * (MAX_MEMO_BODY + 1))
    small = api_key(token_id(None), "POST", "/api/models/o/r/paths-info/main", b"x" * MAX_MEMO_BODY)
    state.api.put(large, answer(b"[]"))
    state.api.put(small, answer(b"[]"))
    assert state.api.last(large) is None
    assert state.api.last(small) is not None
