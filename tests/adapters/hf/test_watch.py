"""A watched branch moves: the new commit is cached in full before any client is sent to it."""

from __future__ import annotations

import asyncio
import hashlib
import os
from collections.abc import Awaitable, Callable
from pathlib import Path

import huggingface_hub as hfh

from proxy import keys
from tests.adapters.hf.test_clients import download, endpoint, in_thread
from tests.conftest import Proxy
from tests.control import call, until
from tests.fakes.fake_hub import FakeHub

ProxyFactory = Callable[..., Awaitable[Proxy]]
MiB = 1 << 20


async def test_branch_move_is_prewarmed_then_switched(hf_proxy: ProxyFactory, hub: FakeHub, tmp_path: Path) -> None:
    proxy = await hf_proxy()
    control = proxy.app[keys.CONTROL]
    repo = hub.create("org/model")
    old = os.urandom(2 * MiB)
    commit_a = repo.commit({"config.json": b'{"v": 1}', "model.safetensors": old})
    await call(proxy, "POST", "/v1/watches", {"url": "hf://org/model", "interval": 3600, "grace": 600}, expect=201)
    watch = control.watches.get("hf://org/model")
    assert watch is not None
    await until(lambda: watch.version == commit_a)  # the first check pre-warms and holds the current head

    new = os.urandom(2 * MiB)
    commit_b = repo.commit({"model.safetensors": new})
    hub.cdn_gate = asyncio.Event()
    check = asyncio.ensure_future(control.watches.check(watch))
    await hub.cdn_arrived.wait()  # the pre-warm of commit B is fetching its weights
    api = hfh.HfApi(endpoint=endpoint(proxy), token=False)
    info = await in_thread(api.model_info, "org/model", revision="main")
    assert info.sha == commit_a, "repo info names the held commit while the new one is uncached"
    assert await download(proxy, tmp_path / "during", "org/model", "model.safetensors") == old
    meta = await in_thread(hfh.get_hf_file_metadata,
                           hfh.hf_hub_url("org/model", "config.json", endpoint=endpoint(proxy)), token=False)
    assert meta.commit_hash == commit_a
    assert not check.done()

    hub.cdn_gate.set()
    assert await check is True
    assert watch.version == commit_b
    assert hub.cdn_gets(hashlib.sha256(new).hexdigest()) == 1
    resolve_gets = hub.count("GET", "/resolve/")
    out = Path(await in_thread(hfh.snapshot_download, "org/model", endpoint=endpoint(proxy),
                               cache_dir=tmp_path / "after", token=False))
    assert (out / "model.safetensors").read_bytes() == new
    assert (out / "config.json").read_bytes() == b'{"v": 1}'
    assert hub.count("GET", "/resolve/") == resolve_gets, "the new commit was served entirely from the cache"
    assert hub.cdn_gets(hashlib.sha256(new).hexdigest()) == 1
    assert proxy.app[keys.METRICS].value("modelmanager_version_switches_total", scheme="hf") == 2

    pins = {p["version"]: p for p in await call(proxy, "GET", "/v1/pins", expect=200)}
    assert pins[commit_b]["expires_at"] is None
    assert pins[commit_a]["expires_at"] is not None, "the previous commit stays pinned for the grace period"
    assert await control.watches.check(watch) is False, "no move, no switch"


async def test_failed_prewarm_keeps_serving_the_old_commit(hf_proxy: ProxyFactory, hub: FakeHub,
                                                           tmp_path: Path) -> None:
    proxy = await hf_proxy(fill_retries=0)
    control = proxy.app[keys.CONTROL]
    repo = hub.create("org/flaky")
    commit_a = repo.commit({"w.bin": os.urandom(4000)})
    await call(proxy, "POST", "/v1/watches", {"url": "hf://org/flaky", "interval": 3600}, expect=201)
    watch = control.watches.get("hf://org/flaky")
    assert watch is not None
    await until(lambda: watch.version == commit_a)
    commit_b = repo.commit({"w.bin": os.urandom(4000)})
    repo.commits[commit_b]["w.bin"].corrupt = True
    assert await control.watches.check(watch) is False
    assert watch.version == commit_a
    assert watch.last_error is not None
    assert commit_b in watch.last_error
    info = await in_thread(hfh.HfApi(endpoint=endpoint(proxy), token=False).model_info, "org/flaky")
    assert info.sha == commit_a
    pins = await call(proxy, "GET", "/v1/pins", expect=200)
    assert [p["version"] for p in pins] == [commit_a], "the failed version's pin is dropped"
    await call(proxy, "DELETE", "/v1/watches", expect=200, url="hf://org/flaky")
    info = await in_thread(hfh.HfApi(endpoint=endpoint(proxy), token=False).model_info, "org/flaky")
    assert info.sha == commit_b, "unwatched: the branch follows the Hub again"
