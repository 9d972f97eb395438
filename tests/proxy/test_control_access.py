"""The door of the control API and ``/v1/status`` (``proxy.control.guard``), through a real server: a token
by default (generated on the volume), ``Bearer`` exactly, JSON only, no cross-site browsers, every
number bounded, and the development opt-out that still stops DNS rebinding."""

from __future__ import annotations

import json
import logging
import math
import stat
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from adapters.hf.urls import parse as parse_hf
from proxy.config import Settings
from proxy.control.watches import MAX_INTERVAL, MIN_INTERVAL, Watch
from proxy.credentials import ADMIN_TOKEN, read_secret
from tests.conftest import ADMIN, Proxy
from tests.conftest import ADMIN_TOKEN as TEST_TOKEN
from tests.raw_http import raw_request

Start = Callable[..., Awaitable[Proxy]]


async def raw(proxy: Proxy, method: str, path: str, headers: dict[str, str] | None = None,
              body: bytes = b"") -> int:
    """A request with headers exactly as given (bytes above 0x7f included); the status."""
    host, port = proxy.server.host, proxy.server.port
    lines = [f"{method} {path} HTTP/1.1", f"Host: {host}:{port}", f"Content-Length: {len(body)}",
             *(f"{k}: {v}" for k, v in (headers or {}).items())]
    return (await raw_request(host, port, "\r\n".join(lines).encode("latin-1"), body)).status


async def status_of(proxy: Proxy, method: str, path: str, **kwargs: Any) -> int:
    async with proxy.session.request(method, proxy.server.make_url(path), **kwargs) as r:
        await r.read()
        return r.status


@pytest.mark.parametrize("authorization", [
    None, TEST_TOKEN, f"Token {TEST_TOKEN}", f"Bearer  {TEST_TOKEN}", f"Bearer {TEST_TOKEN} x", "Bearer wrong",
    "Bearer t\xe9st-admin-token", "Bearer \xff\xfe"])
async def test_only_bearer_with_the_exact_token_gets_in(proxy: Proxy, authorization: str | None) -> None:
    headers = {} if authorization is None else {"Authorization": authorization}
    for path in ("/v1/jobs", "/v1/pins", "/v1/watches", "/v1/status"):
        assert await raw(proxy, "GET", path, headers) == 401, (path, authorization)
    assert await raw(proxy, "POST", "/v1/evict", headers) == 401


async def test_the_right_token_gets_in(proxy: Proxy) -> None:
    for path in ("/v1/jobs", "/v1/pins", "/v1/watches", "/v1/status"):
        assert await status_of(proxy, "GET", path, headers=ADMIN) == 200, path
    assert await status_of(proxy, "GET", "/v1/status") == 401, "the status document needs the token too"


async def test_a_token_is_generated_on_the_volume_when_none_is_set(start_proxy: Start, cache_dir: Path) -> None:
    proxy = await start_proxy(admin_token=None)
    path = cache_dir / "admin-token"
    token = read_secret(cache_dir, ADMIN_TOKEN)
    assert token is not None
    assert len(token) >= 32
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert await status_of(proxy, "GET", "/v1/jobs") == 401
    assert await status_of(proxy, "GET", "/v1/jobs", headers={"Authorization": f"Bearer {token}"}) == 200
    again = await start_proxy(admin_token=None)
    assert read_secret(cache_dir, ADMIN_TOKEN) == token, "the next start keeps the token"
    assert await status_of(again, "GET", "/v1/jobs", headers={"Authorization": f"Bearer {token}"}) == 200


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data"])
async def test_bodies_must_be_json(proxy: Proxy, content_type: str) -> None:
    body = json.dumps({"url": "hf://org/model"}).encode()
    headers = {**ADMIN, "Content-Type": content_type}
    for path in ("/v1/prefetch", "/v1/pins", "/v1/watches"):
        assert await status_of(proxy, "POST", path, data=body, headers=headers) == 415, path


@pytest.mark.parametrize("headers", [
    {"Origin": "https://evil.example"}, {"Origin": "null"}, {"Sec-Fetch-Site": "cross-site"},
    {"Sec-Fetch-Site": "same-site"}])
async def test_cross_site_browser_requests_are_refused(proxy: Proxy, headers: dict[str, str]) -> None:
    assert await status_of(proxy, "GET", "/v1/pins", headers={**ADMIN, **headers}) == 403
    assert await status_of(proxy, "POST", "/v1/evict", headers={**ADMIN, **headers}) == 403
    own = f"http://{proxy.server.host}:{proxy.server.port}"
    same_origin = {**ADMIN, "Origin": own, "Sec-Fetch-Site": "same-origin"}
    assert await status_of(proxy, "GET", "/v1/status", headers=same_origin) == 200, "the dashboard's own page"


@pytest.mark.parametrize("body", [
    b'{"url": "hf://org/model", "interval": 0.001}', b'{"url": "hf://org/model", "interval": NaN}',
    b'{"url": "hf://org/model", "interval": Infinity}', b'{"url": "hf://org/model", "interval": 1e12}',
    b'{"url": "hf://org/model", "interval": "60"}', b'{"url": "hf://org/model", "interval": true}',
    b'{"url": "hf://org/model", "interval": 60, "grace": 1e300}',
    b'{"url": "hf://org/model", "x": ' + b"[" * 100 + b"]" * 100 + b"}"])
async def test_watch_numbers_and_json_shape_are_bounded(proxy: Proxy, body: bytes) -> None:
    headers = {**ADMIN, "Content-Type": "application/json"}
    assert await status_of(proxy, "POST", "/v1/watches", data=body, headers=headers) == 400
    async with proxy.session.get(proxy.server.make_url("/v1/watches"), headers=ADMIN) as r:
        assert await r.json() == [], "nothing was watched"


async def test_large_bodies_and_unbounded_waits_are_refused(proxy: Proxy) -> None:
    headers = {**ADMIN, "Content-Type": "application/json"}
    big = json.dumps({"url": "hf://org/model", "pad": "x" * (1 << 17)}).encode()
    assert await status_of(proxy, "POST", "/v1/prefetch", data=big, headers=headers) == 413
    for wait in ("nan", "inf", "-1", "1e9"):
        assert await status_of(proxy, "GET", "/v1/jobs/unknown", params={"wait": wait}, headers=ADMIN) == 400


def test_a_stored_watch_with_a_hostile_interval_is_clamped() -> None:
    fast = Watch.from_json({"url": "hf://org/model", "interval": 0.001, "grace": 10}, parse_hf)
    assert fast.interval == MIN_INTERVAL
    never = Watch.from_json({"url": "hf://org/model", "interval": math.nan, "grace": math.inf}, parse_hf)
    assert never.interval == MAX_INTERVAL
    assert math.isfinite(never.grace)


async def test_insecure_no_auth_is_loud_and_still_stops_dns_rebinding(
        start_proxy: Start, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        proxy = await start_proxy(admin_token=None, insecure_no_auth=True)
    assert any("WITHOUT A TOKEN" in r.getMessage() for r in caplog.records)
    assert await raw(proxy, "GET", "/v1/pins") == 200
    assert await status_of(proxy, "GET", "/v1/status", headers={"Host": "localhost"}) == 200
    assert await status_of(proxy, "GET", "/v1/pins", headers={"Host": "rebind.evil.example"}) == 403
    assert await status_of(proxy, "GET", "/v1/pins", headers={"Origin": "http://evil.example"}) == 403


def test_the_opt_out_and_a_token_exclude_each_other(make_settings: Callable[..., Settings]) -> None:
    with pytest.raises(ValidationError, match="exclude each other"):
        make_settings(insecure_no_auth=True)


@pytest.mark.parametrize("token", ["with space", "t\xe9st", "tab\there"])
def test_tokens_that_cannot_be_sent_as_bearer_are_settings_errors(make_settings: Callable[..., Settings],
                                                                  token: str) -> None:
    with pytest.raises(ValidationError, match="printable ASCII"):
        make_settings(admin_token=token)
    with pytest.raises(ValidationError, match="printable ASCII"):
        make_settings(cluster_secret=token)
    assert make_settings(admin_token="").admin_token is None, "an empty variable is no token (one is generated)"
