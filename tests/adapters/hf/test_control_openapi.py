"""The control API's OpenAPI document (``GET /v1/openapi.json``) is valid and true: every route it
names is called here through a real proxy (the Hub emulator upstream), and every answer's status
and JSON body must be what the document says for that route. Answers may carry no field the
document does not name."""

from __future__ import annotations

import copy
import json
from collections.abc import Awaitable, Callable
from typing import Any

import jsonschema
from openapi_spec_validator import validate

from tests.conftest import ADMIN, Proxy
from tests.control import finished
from tests.fakes.fake_hub import FakeHub
from tests.proxy.artifacts.openapi_calls import RECIPE_MODULES, call_artifact_routes

ProxyFactory = Callable[..., Awaitable[Proxy]]
JSON = {**ADMIN, "Content-Type": "application/json"}


def closed(schemas: dict[str, Any]) -> dict[str, Any]:
    """``schemas`` with every object closed to properties it does not name."""
    out = copy.deepcopy(schemas)
    for schema in out.values():
        if "properties" in schema:
            schema.setdefault("additionalProperties", False)
    return out


class Checker:
    def __init__(self, proxy: Proxy, document: dict[str, Any]) -> None:
        self.proxy = proxy
        self.document = document
        self.components = {"schemas": closed(document["components"]["schemas"])}
        self.called: set[tuple[str, str]] = set()
        self.statuses: list[tuple[str, str, int]] = []

    async def __call__(self, method: str, route: str, expect: int, path: str | None = None, *,
                       headers: dict[str, str] | None = None, body: bytes | dict[str, Any] | None = None,
                       params: dict[str, str] | None = None) -> Any:
        data = json.dumps(body).encode() if isinstance(body, dict) else body
        if isinstance(body, dict) and expect < 300:
            request = self.document["paths"][route][method.lower()]["requestBody"]["content"]["application/json"]
            jsonschema.Draft202012Validator({**request["schema"], "components": self.components}).validate(body)
        async with self.proxy.session.request(method, self.proxy.server.make_url(path or route), data=data,
                                              params=params, headers=(JSON if data else ADMIN) if headers is None
                                              else headers) as r:
            raw, content_type = await r.read(), r.content_type
            assert r.status == expect, (method, path or route, r.status, raw[:300])
        responses = self.document["paths"][route][method.lower()]["responses"]
        spec = responses.get(str(expect)) or responses.get(f"{str(expect)[0]}XX")
        assert spec is not None, f"{method} {route} answered {expect}, which the document does not name"
        self.called.add((method.lower(), route))
        if "content" not in spec:
            return raw
        assert content_type in spec["content"], (method, route, content_type)
        if content_type != "application/json":
            return raw
        answer = json.loads(raw)
        schema = {**spec["content"][content_type]["schema"], "components": self.components}
        jsonschema.Draft202012Validator(schema).validate(answer)
        return answer


async def test_every_route_answers_what_the_document_says(hf_proxy: ProxyFactory, hub: FakeHub) -> None:
    proxy = await hf_proxy(recipe_modules=RECIPE_MODULES)
    async with proxy.session.get(proxy.server.make_url("/v1/openapi.json")) as r:
        assert r.status == 200, "no token needed"
        document = await r.json()
    validate(document)
    assert document["components"]["securitySchemes"]["bearer"] == {**document["components"]["securitySchemes"][
        "bearer"], "type": "http", "scheme": "bearer"}
    check = Checker(proxy, document)
    hub.create("org/model").commit({"config.json": b"{}", "w.bin": b"x" * 5000})

    await check("GET", "/v1/openapi.json", 200, headers={})
    await check("GET", "/healthz", 200, headers={})
    await check("GET", "/readyz", 200, headers={})
    assert b"modelmanager_" in await check("GET", "/metrics", 200, headers={})
    await check("GET", "/v1/status", 200)
    await check("GET", "/v1/status", 401, headers={})

    job = await check("POST", "/v1/prefetch", 202, body={"url": "hf://org/model", "allow_patterns": "*.json"})
    assert (await finished(proxy, job["id"]))["files_total"] == 1
    done = await check("GET", "/v1/jobs/{id}", 200, f"/v1/jobs/{job['id']}", params={"wait": "5"})
    assert done["state"] == "succeeded"
    failed = await check("POST", "/v1/prefetch", 202, body={"url": "hf://org/missing", "token": ""})
    assert (await finished(proxy, failed["id"]))["state"] == "failed"
    assert len(await check("GET", "/v1/jobs", 200)) == 2
    failed = await check("GET", "/v1/jobs/{id}", 200, f"/v1/jobs/{failed['id']}")
    assert failed["errors"][0]["path"] == ""
    await check("GET", "/v1/jobs/{id}", 404, "/v1/jobs/unknown")
    await check("GET", "/v1/jobs/{id}", 400, "/v1/jobs/unknown", params={"wait": "nan"})
    for bad in ({"url": "nope://x"}, {"url": 5}, {"url": ""}, {"url": "hf://org/model", "pin": "yes"},
                {"url": "hf://org/model", "allow_patterns": [1]}):
        assert (await check("POST", "/v1/prefetch", 400, body=bad))["error"]
    await check("POST", "/v1/prefetch", 400, headers=JSON, body=b'{"url": "hf://org/model", "pin": NaN}')
    await check("POST", "/v1/prefetch", 400, headers=JSON, body=b"[]")
    await check("POST", "/v1/prefetch", 415, headers={**ADMIN, "Content-Type": "text/plain"}, body=b"{}")
    await check("POST", "/v1/prefetch", 413, headers=JSON, body=b'{"url": "' + b"x" * (1 << 17) + b'"}')
    await check("POST", "/v1/prefetch", 401, headers={"Content-Type": "application/json"}, body={"url": "hf://a/b"})
    await check("POST", "/v1/prefetch", 403, headers={**JSON, "Origin": "https://evil.example"}, body={})

    pin = await check("POST", "/v1/pins", 201, body={"url": "hf://org/model"})
    assert pin["prefixes"]
    assert pin["reason"] == "operator"
    assert [p["url"] for p in await check("GET", "/v1/pins", 200)] == ["hf://org/model"]
    await check("POST", "/v1/pins", 401, body={"url": "hf://org/missing"})  # the Hub's 401, passed through
    await check("POST", "/v1/pins", 400, body={"token": "t"})
    assert len(await check("DELETE", "/v1/pins", 200, params={"url": "hf://org/model"})) == 1
    await check("DELETE", "/v1/pins", 404, params={"url": "hf://org/model"})
    await check("DELETE", "/v1/pins", 400, params={"url": "nope://x"})

    watch = await check("POST", "/v1/watches", 201, body={"url": "hf://org/model", "interval": 60, "grace": 0})
    assert (watch["interval"], watch["grace"]) == (60.0, 0.0)
    assert [w["url"] for w in await check("GET", "/v1/watches", 200)] == ["hf://org/model"]
    await check("POST", "/v1/watches", 400, body={"url": "hf://org/model", "interval": 1})
    await check("POST", "/v1/watches", 400, body={"url": "hf://org/model", "grace": "60"})
    assert (await check("DELETE", "/v1/watches", 200, params={"url": "hf://org/model"}))["removed"] is True
    await check("DELETE", "/v1/watches", 404, params={"url": "hf://org/model"})

    report = await check("POST", "/v1/evict", 200)
    assert report["quota"] == 0
    assert report["evicted"] == 0

    await call_artifact_routes(check)

    documented = {(m, p) for p, ops in document["paths"].items() for m in ops}
    assert documented - check.called == set(), "every documented route was called"
