"""Prefetch of HF repos through the control API, checked with real huggingface_hub clients."""

from __future__ import annotations

import asyncio
import hashlib
import os
from collections.abc import Awaitable, Callable
from pathlib import Path

import huggingface_hub as hfh

from proxy import appkeys
from tests.adapters.hf.test_clients import download, endpoint, in_thread
from tests.conftest import Proxy
from tests.control import call, prefetch, until
from tests.fakes.fake_hub import FakeHub

ProxyFactory = Callable[..., Awaitable[Proxy]]
MiB = 1 << 20


async def test_prefetched_repo_is_downloaded_with_zero_upstream_file_requests(
        hf_proxy: ProxyFactory, hub: FakeHub, tmp_path: Path) -> None:
    proxy = await hf_proxy()
    repo = hub.create("org/model")
    files = {"config.json": b'{"a": 1}', "model.safetensors": os.urandom(2 * MiB),
             "tokenizer/vocab.json": os.urandom(3000)}
    commit = repo.commit(files)
    job = await prefetch(proxy, url="hf://org/model")
    assert (job["state"], job["version"], job["files_total"], job["files_done"]) == ("succeeded", commit, 3, 3)
    assert job["bytes_done"] == job["bytes_total"] == sum(len(b) for b in files.values())
    assert job["errors"] == []
    assert hub.count("GET", "/resolve/") == 3
    assert len(hub.cdn_requests) == 2, "the two LFS files, once each"
    upstream_before = (hub.count("GET", "/resolve/"), hub.count("HEAD", "/resolve/"), len(hub.cdn_requests))

    out = Path(await in_thread(hfh.snapshot_download, "org/model", endpoint=endpoint(proxy),
                               cache_dir=tmp_path / "client", token=False))
    for name, data in files.items():
        assert (out / name).read_bytes() == data
    assert (hub.count("GET", "/resolve/"), hub.count("HEAD", "/resolve/"), len(hub.cdn_requests)) == upstream_before
    assert proxy.app[appkeys.METRICS].value("modelmanager_prefetch_bytes_total", outcome="fetched") == \
        sum(len(b) for b in files.values())


async def test_patterns_and_a_second_prefetch_is_all_hits(hf_proxy: ProxyFactory, hub: FakeHub) -> None:
    proxy = await hf_proxy()
    repo = hub.create("org/patterns")
    repo.commit({"a.json": b"{}", "w/1.bin": os.urandom(2000), "w/2.bin": os.urandom(2000), "x.txt": b"x"})
    job = await prefetch(proxy, url="hf://org/patterns", allow_patterns=["w/", "*.json"], ignore_patterns=["*2.bin"])
    assert (job["files_total"], job["files_cached"]) == (2, 0)
    assert hub.count("GET", "/resolve/") == 2
    again = await prefetch(proxy, url="hf://org/patterns/w")
    assert (again["files_total"], again["files_done"], again["files_cached"]) == (2, 2, 1)
    assert hub.count("GET", "/resolve/") == 3, "only w/2.bin was missing"


async def test_prefetch_concurrent_with_live_clients_is_one_upstream_fetch_per_file(
        hf_proxy: ProxyFactory, hub: FakeHub, tmp_path: Path) -> None:
    proxy = await hf_proxy()
    repo = hub.create("org/live")
    weights = {f"model-{i}.safetensors": os.urandom(MiB + i) for i in range(3)}
    repo.commit({"config.json": b'{"b": 2}', **weights})
    hub.cdn_gate = asyncio.Event()
    started = await call(proxy, "POST", "/v1/prefetch", {"url": "hf://org/live"}, expect=202)
    await until(lambda: hub.cdn_waiting == 3)  # every LFS fill of the job is waiting on the CDN
    metrics = proxy.app[appkeys.METRICS]
    clients = [download(proxy, tmp_path / f"c{i}", "org/live", name)
               for i in range(2) for name in weights]
    tasks = [asyncio.ensure_future(c) for c in clients]
    await until(lambda: metrics.value("modelmanager_coalesced_waiters_total") == len(clients))
    hub.cdn_gate.set()
    got = await asyncio.gather(*tasks)
    assert got == list(weights.values()) * 2
    job = await call(proxy, "GET", f"/v1/jobs/{started['id']}", expect=200, wait="10")
    assert job["state"] == "succeeded"
    for data in weights.values():
        assert hub.cdn_gets(hashlib.sha256(data).hexdigest()) == 1
    assert hub.count("GET", "/resolve/") == 4, "one GET per file, job and clients together"


async def test_failed_prefetch_reports_errors(hf_proxy: ProxyFactory, hub: FakeHub) -> None:
    proxy = await hf_proxy()
    job = await prefetch(proxy, url="hf://org/missing")
    assert job["state"] == "failed"
    assert "401" in job["errors"][0]["error"]
    listed = await call(proxy, "GET", "/v1/jobs", expect=200)
    assert [j["id"] for j in listed] == [job["id"]]
    assert (await call(proxy, "POST", "/v1/prefetch", {"url": "nope://x"}, expect=400))["error"]
    await call(proxy, "GET", "/v1/jobs/unknown", expect=404)


async def test_admin_token_guards_the_control_api(hf_proxy: ProxyFactory, hub: FakeHub) -> None:
    proxy = await hf_proxy(admin_token="s3cret")
    await call(proxy, "GET", "/v1/jobs", expect=401)
    async with proxy.session.get(proxy.server.make_url("/v1/jobs"),
                                 headers={"Authorization": "Bearer s3cret"}) as r:
        assert r.status == 200
