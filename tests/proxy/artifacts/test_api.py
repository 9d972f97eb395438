"""Artifacts over the control API: upload then download byte-exact (ranges, conditionals), a target
mismatch is a miss, listing by source and recipe, and bad uploads refused with 4xx and nothing stored."""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import blake3

from proxy.artifacts.key import Manifest
from proxy.digest import Digest
from tests.conftest import ADMIN, Proxy

ProxyFactory = Callable[..., Awaitable[Proxy]]
RECIPE_MODULE = "tests.proxy.artifacts.gzip_recipe"
SOURCE = Digest.of(b"the model")
TARGET = {"gpu": "H200", "cuda": "13.0"}


def manifest(target: dict[str, str] = TARGET, options: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"sources": [str(SOURCE)], "target": target, "recipe": {"name": "test-gzip",
                                                                   "options": options or {"level": 6}}}


def key_of(data: dict[str, Any]) -> str:
    return Manifest.model_validate(data).key.hex


async def put(proxy: Proxy, key: str, body: bytes, data: dict[str, Any], *, digest: str | None = None,
              headers: dict[str, str] | None = None) -> tuple[int, Any]:
    sent = {**ADMIN, "X-MM-Artifact-Manifest": json.dumps(data),
            "X-MM-Artifact-Digest": digest or f"blake3:{blake3.blake3(body).hexdigest()}"}
    if headers is not None:
        sent = headers
    async with proxy.session.put(proxy.server.make_url(f"/v1/artifacts/{key}"), data=body, headers=sent) as r:
        return r.status, await r.json()


async def test_upload_then_download_byte_exact(start_proxy: ProxyFactory) -> None:
    proxy = await start_proxy()
    body = os.urandom(300_000)
    data = manifest()
    key = key_of(data)
    status, stored = await put(proxy, key, body, {**data, "names": ["model.onnx"]})
    assert status == 201, stored
    assert stored["key"] == key
    assert stored["size"] == len(body)
    assert stored["names"] == ["model.onnx"]
    assert stored["target"] == TARGET
    assert stored["sources"] == [str(SOURCE)]
    url = proxy.server.make_url(f"/v1/artifacts/{key}")
    async with proxy.session.get(url, headers=ADMIN) as r:
        assert r.status == 200
        assert await r.read() == body
        etag = r.headers["ETag"]
        assert r.headers["X-MM-Blob-Digest"] == stored["digest"]
    async with proxy.session.get(url, headers={**ADMIN, "Range": "bytes=1000-1999"}) as r:
        assert r.status == 206
        assert await r.read() == body[1000:2000]
    async with proxy.session.get(url, headers={**ADMIN, "If-None-Match": etag}) as r:
        assert r.status == 304
    async with proxy.session.head(url, headers=ADMIN) as r:
        assert r.status == 200
        assert int(r.headers["Content-Length"]) == len(body)
    async with proxy.session.get(url) as r:
        assert r.status == 401, "artifacts of private models are private: reads need the token by default"
    status, again = await put(proxy, key, body, data)
    assert status == 200, "a second upload of the same bytes is a no-op"
    assert again["digest"] == stored["digest"]


async def test_open_reads_setting_lets_anyone_read(start_proxy: ProxyFactory) -> None:
    proxy = await start_proxy(artifact_open_reads=True)
    data = manifest()
    key = key_of(data)
    assert (await put(proxy, key, b"engine", data))[0] == 201
    async with proxy.session.get(proxy.server.make_url(f"/v1/artifacts/{key}")) as r:
        assert r.status == 200
        assert await r.read() == b"engine"
    assert (await put(proxy, key, b"other", data, headers={"X-MM-Artifact-Manifest": json.dumps(data)}))[0] == 401


async def test_a_target_mismatch_is_a_miss(start_proxy: ProxyFactory) -> None:
    proxy = await start_proxy()
    built_here = manifest({"gpu": "H200", "cuda": "13.0"})
    assert (await put(proxy, key_of(built_here), b"h200 engine", built_here))[0] == 201
    elsewhere = manifest({"gpu": "A100", "cuda": "13.0"})
    assert key_of(elsewhere) != key_of(built_here)
    async with proxy.session.get(proxy.server.make_url(f"/v1/artifacts/{key_of(elsewhere)}"), headers=ADMIN) as r:
        assert r.status == 404
        assert (await r.json())["state"] == "unknown"
    async with proxy.session.get(proxy.server.make_url("/v1/artifacts"), params={"source": str(SOURCE)},
                                 headers=ADMIN) as r:
        listed = await r.json()
    assert [a["target"] for a in listed] == [{"gpu": "H200", "cuda": "13.0"}], "the list says which targets exist"
    async with proxy.session.get(proxy.server.make_url("/v1/artifacts"), params={"recipe": "other"},
                                 headers=ADMIN) as r:
        assert await r.json() == []


async def test_bad_uploads_are_refused_and_leave_nothing(start_proxy: ProxyFactory, cache_dir: Path) -> None:
    proxy = await start_proxy()
    data = manifest()
    key = key_of(data)
    body = b"x" * 5000
    wrong = f"blake3:{blake3.blake3(b'other').hexdigest()}"
    status, answer = await put(proxy, key, body, data, digest=wrong)
    assert status == 400
    assert "blake3 mismatch" in answer["error"]
    status, answer = await put(proxy, key_of(manifest(options={"level": 9})), body, data)
    assert status == 400
    assert "not the manifest's" in answer["error"]
    assert (await put(proxy, "not-a-key", body, data))[0] == 400
    assert (await put(proxy, key.upper(), body, data))[0] == 400
    status, answer = await put(proxy, key, body, {"sources": ["nope"], "target": {}, "recipe": {"name": "x"}})
    assert status == 400
    assert "manifest" in answer["error"]
    status, _ = await put(proxy, key, body, data, headers={"X-MM-Artifact-Manifest": json.dumps(data),
                                                           "X-MM-Artifact-Digest": wrong})
    assert status == 401, "uploads need the admin token"
    await truncated_upload(proxy, key, data, body)
    async with proxy.session.get(proxy.server.make_url(f"/v1/artifacts/{key}"), headers=ADMIN) as r:
        assert r.status == 404
    assert not [p for p in (cache_dir / "blobs").rglob("*") if p.is_file()], "no blob was committed"
    assert not list((cache_dir / "tmp" / "test-node").iterdir()), "no temp file was left behind"


async def truncated_upload(proxy: Proxy, key: str, data: dict[str, Any], body: bytes) -> None:
    """A client that announces ``body`` and hangs up halfway through it."""
    reader, writer = await asyncio.open_connection(proxy.server.host, proxy.server.port)
    head = (f"PUT /v1/artifacts/{key} HTTP/1.1\r\nHost: x\r\nAuthorization: {ADMIN['Authorization']}\r\n"
            f"X-MM-Artifact-Manifest: {json.dumps(data)}\r\n"
            f"X-MM-Artifact-Digest: blake3:{blake3.blake3(body).hexdigest()}\r\n"
            f"Content-Length: {len(body)}\r\n\r\n").encode()
    writer.write(head + body[: len(body) // 2])
    await writer.drain()
    writer.write_eof()
    answer = await reader.read()  # the server gives up on the body once it saw the end
    writer.close()
    assert answer == b"" or answer.startswith(b"HTTP/1.1 400"), answer[:200]
