"""The artifact routes' calls for the OpenAPI test (tests/adapters/hf/test_control_openapi.py), which
checks every answer against the document and that every documented route was called."""

from __future__ import annotations

import json
from collections.abc import Awaitable
from typing import Any, Protocol

import blake3

from proxy.artifacts.key import Manifest
from tests.conftest import ADMIN
from tests.proxy.artifacts.gzip_recipe import RECIPE

RECIPE_MODULES = ("tests.proxy.artifacts.gzip_recipe",)


class Check(Protocol):
    def __call__(self, method: str, route: str, expect: int, path: str | None = None, *,
                 headers: dict[str, str] | None = None, body: bytes | dict[str, Any] | None = None,
                 params: dict[str, str] | None = None) -> Awaitable[Any]: ...


async def call_artifact_routes(check: Check) -> None:
    body = b"compiled engine bytes" * 100
    digest = f"blake3:{blake3.blake3(body).hexdigest()}"
    data = {"sources": [digest], "target": {"gpu": "test"}, "recipe": {"name": "test-gzip", "options": {"level": 6}}}
    key = Manifest.model_validate(data).key.hex
    upload = {**ADMIN, "X-MM-Artifact-Manifest": json.dumps(data), "X-MM-Artifact-Digest": digest}
    route = "/v1/artifacts/{key}"
    stored = await check("PUT", route, 201, f"/v1/artifacts/{key}", headers=upload, body=body)
    assert stored["key"] == key
    await check("PUT", route, 200, f"/v1/artifacts/{key}", headers=upload, body=body)
    await check("PUT", route, 400, "/v1/artifacts/nope", headers=upload, body=body)
    assert await check("GET", route, 200, f"/v1/artifacts/{key}") == body
    await check("HEAD", route, 200, f"/v1/artifacts/{key}")
    await check("GET", route, 400, f"/v1/artifacts/{key}", params={"wait": "-1"})
    assert [a["key"] for a in await check("GET", "/v1/artifacts", 200, params={"source": digest})] == [key]
    await check("GET", "/v1/artifacts", 400, params={"source": "nope"})
    assert await check("GET", "/v1/blobs/{digest}", 200, f"/v1/blobs/{stored['digest']}") == body
    await check("GET", "/v1/blobs/{digest}", 404, f"/v1/blobs/{'0' * 64}")

    target = RECIPE.target()
    await check("POST", "/v1/builds/claim", 204, body={"worker": "w", "offers": {"test-gzip": target}, "wait": 0})
    build = await check("POST", "/v1/builds", 202, body={"sources": [stored["digest"]], "recipe": "test-gzip",
                                                         "target": target})
    assert build["state"] == "pending"
    unstaffed = await check("POST", "/v1/builds", 202, body={"sources": [stored["digest"]], "recipe": "test-gzip",
                                                             "target": {"gpu": "none here"}})
    assert (unstaffed["state"], unstaffed["offered"]) == ("no_worker", [target])
    no_worker = await check("GET", route, 503, f"/v1/artifacts/{unstaffed['key']}", params={"wait": "60"})
    assert no_worker["offered"] == [target]
    await check("POST", "/v1/builds", 400, body={"sources": [stored["digest"]], "recipe": "nope", "target": target})
    await check("POST", "/v1/builds", 400, body={"sources": [], "recipe": "test-gzip"})
    missing = await check("GET", route, 404, f"/v1/artifacts/{build['key']}")
    assert missing["state"] == "pending"
    assert sorted(b["key"] for b in await check("GET", "/v1/builds", 200)) == sorted([build["key"], unstaffed["key"]])
    assert (await check("GET", "/v1/builds/{key}", 200, f"/v1/builds/{build['key']}"))["state"] == "pending"
    await check("POST", "/v1/builds/claim", 204, body={"worker": "w", "offers": {"other": {}}, "wait": 0})
    claim = await check("POST", "/v1/builds/claim", 200, body={"worker": "w", "offers": {"test-gzip": target}})
    assert claim["key"] == build["key"]
    renew = f"/v1/builds/{build['key']}/renew"
    await check("POST", "/v1/builds/{key}/renew", 200, renew, body={"token": claim["token"]})
    fail = f"/v1/builds/{build['key']}/fail"
    failed = await check("POST", "/v1/builds/{key}/fail", 200, fail,
                         body={"token": claim["token"], "error": "boom", "log_tail": "line 1\nboom"})
    assert failed["state"] == "failed"
    await check("POST", "/v1/builds/{key}/fail", 409, fail, body={"token": claim["token"], "error": "again"})
    await check("POST", "/v1/builds/{key}/renew", 409, renew, body={"token": claim["token"]})
    answer = await check("GET", route, 502, f"/v1/artifacts/{build['key']}")
    assert answer["log_tail"] == "line 1\nboom"
