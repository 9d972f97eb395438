"""Property-based requests against the control API of a live proxy (a real socket, a server in its
own thread): whatever the body, headers or query, the answer is a JSON error with a 4xx (or a
success, or a 502 when the upstream cannot be reached), never a 500 or a traceback."""

from __future__ import annotations

import asyncio
import http.client
import json
import threading
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest
from aiohttp import web
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from proxy.__main__ import build_app
from proxy.config import Settings
from tests.conftest import ADMIN_TOKEN


class LiveProxy:
    """A proxy app served by aiohttp's runner on a loop in a background thread."""

    def __init__(self, cache: Path) -> None:
        self.settings = Settings(cache_dir=cache, node_id="fuzz", admin_token=ADMIN_TOKEN,
                                 hf_endpoint="http://127.0.0.1:9", log_level="error")
        self.loop = asyncio.new_event_loop()
        self.started = threading.Event()
        self.port = 0
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        runner = web.AppRunner(build_app(self.settings))
        self.loop.run_until_complete(runner.setup())
        site = web.TCPSite(runner, "127.0.0.1", 0)
        self.loop.run_until_complete(site.start())
        self.port = runner.addresses[0][1]
        self.started.set()
        self.loop.run_forever()
        self.loop.run_until_complete(runner.cleanup())

    def __enter__(self) -> LiveProxy:
        self.thread.start()
        assert self.started.wait(30)
        return self

    def __exit__(self, *exc: object) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(30)

    def request(self, method: str, path: str, body: bytes | None, headers: dict[str, str]) -> tuple[int, bytes]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            conn.request(method, path, body=body, headers=headers)
            answer = conn.getresponse()
            return answer.status, answer.read()
        finally:
            conn.close()


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveProxy]:
    with LiveProxy(tmp_path_factory.mktemp("cache")) as proxy:
        yield proxy


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=20)
fields = st.fixed_dictionaries({}, optional={
    "url": st.one_of(st.text(max_size=60), st.sampled_from(["hf://org/model", "hf://org/model@main",
                                                            "s3://bucket/prefix", "https://example.org/x",
                                                            "hf://../x", "ftp://x"]), json_values),
    "interval": json_values | st.floats(), "grace": json_values | st.floats(), "pin": json_values,
    "allow_patterns": json_values, "ignore_patterns": json_values, "token": json_values})
ENDPOINTS = [("POST", "/v1/prefetch"), ("POST", "/v1/pins"), ("POST", "/v1/watches"), ("DELETE", "/v1/pins"),
             ("DELETE", "/v1/watches"), ("GET", "/v1/jobs/x"), ("POST", "/v1/evict"), ("GET", "/v1/status")]
AUTH = st.sampled_from([f"Bearer {ADMIN_TOKEN}", ADMIN_TOKEN, "Bearer wrong", "bearer", "", "Basic eA=="])


def check(status: int, body: bytes) -> None:
    assert status < 500 or status == 502, (status, body[:300])
    assert b"Traceback" not in body
    if status >= 400 and body:
        assert isinstance(json.loads(body).get("error"), str), body[:300]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(endpoint=st.sampled_from(ENDPOINTS), body=fields, auth=AUTH, query=st.text(max_size=40),
       content_type=st.sampled_from(["application/json", "text/plain", "application/json; charset=utf-8", ""]))
@example(endpoint=("POST", "/v1/watches"), body={"url": "hf://org/model", "interval": 0.001},
         auth=f"Bearer {ADMIN_TOKEN}", query="", content_type="application/json")
def test_control_bodies_never_fail_the_server(live: LiveProxy, endpoint: tuple[str, str], body: dict[str, object],
                                              auth: str, query: str, content_type: str) -> None:
    method, path = endpoint
    headers = {"Authorization": auth} if auth else {}
    if content_type:
        headers["Content-Type"] = content_type
    target = f"{path}?url={quote(query)}" if method == "DELETE" else path
    status, answer = live.request(method, target, json.dumps(body).encode() if method == "POST" else None, headers)
    check(status, answer)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(raw=st.one_of(st.binary(max_size=300), st.integers(1, 50).map(lambda n: b"[" * n + b"]" * n),
                     st.integers(1, 3000).map(lambda n: b'{"url":' + b"[" * n + b"]" * n + b"}"),
                     st.sampled_from([b'{"url": NaN}', b'{"interval": Infinity}', b"\xff\xfe", b"{}" * 2])))
@example(raw=b'{"a":' * 5000 + b"1" + b"}" * 5000)
def test_raw_bodies_never_fail_the_server(live: LiveProxy, raw: bytes) -> None:
    for path in ("/v1/prefetch", "/v1/pins", "/v1/watches"):
        status, answer = live.request("POST", path, raw, {"Authorization": f"Bearer {ADMIN_TOKEN}",
                                                          "Content-Type": "application/json"})
        check(status, answer)
        assert status != 201 or path != "/v1/watches" or b"interval" not in raw
