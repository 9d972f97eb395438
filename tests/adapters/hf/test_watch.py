"""A watched branch moves: the new commit is cached in full before any client is sent to it."""

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
from tests.control import call, until
from tests.fakes.fake_hub import FakeHub

ProxyFactory = Callable[..., Awaitable[Proxy]]
MiB = 1 << 20


async def test_branch_move_is_prewarmed_then_switched(hf_proxy: ProxyFactory, hub: FakeHub, tmp_path: Path) -> None:
    proxy = await hf_proxy()
    control = proxy.app[appkeys.CONTROL]
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
    assert proxy.app[appkeys.METRICS].value("modelmanager_version_switches_total", scheme="hf") == 2

    pins = {p["version"]: p for p in await call(proxy, "GET", "/v1/pins", expect=200)}
    assert pins[commit_b]["expires_at"] is None
    assert pins[commit_a]["expires_at"] is not None, "the previous commit stays pinned for the grace period"
    assert await control.watches.check(watch) is False, "no move, no switch"


async def test_failed_prewarm_keeps_serving_the_old_commit(hf_proxy: ProxyFactory, hub: FakeHub,
                                                           tmp_path: Path) -> None:
    proxy = await hf_proxy(fill_retries=0)
    control = proxy.app[appkeys.CONTROL]
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


async def test_other_pods_pick_up_adopt_and_drop_watches_from_the_volume(
        hf_proxy: ProxyFactory, hub: FakeHub, tmp_path: Path) -> None:
    """Two pods on one cache volume: a watch added on pod A reaches pod B at B's next sync; the
    version A pre-warmed and switched to is adopted by B without B asking the upstream; removing
    the watch on A releases B's hold."""
    a = await hf_proxy(node_id="pod-a")
    b = await hf_proxy(node_id="pod-b")
    watches_a, watches_b = a.app[appkeys.CONTROL].watches, b.app[appkeys.CONTROL].watches
    repo = hub.create("org/shared")
    commit_a = repo.commit({"config.json": b'{"v": 1}', "w.bin": os.urandom(MiB)})
    await call(a, "POST", "/v1/watches", {"url": "hf://org/shared", "interval": 3600}, expect=201)
    on_a = watches_a.get("hf://org/shared")
    assert on_a is not None
    await until(lambda: on_a.version == commit_a)

    assert watches_b.get("hf://org/shared") is None
    await watches_b.sync()
    on_b = watches_b.get("hf://org/shared")
    assert on_b is not None
    assert on_b.version == commit_a
    await until(lambda: on_b.checked_at is not None)  # B's own first check: nothing moved

    new = os.urandom(MiB)
    commit_b = repo.commit({"w.bin": new})
    api_b = hfh.HfApi(endpoint=endpoint(b), token=False)
    assert await watches_a.check(on_a) is True  # A pre-warms commit B and switches
    assert (await in_thread(api_b.model_info, "org/shared", revision="main")).sha == commit_a, \
        "B still holds what it served until it hears of the switch"
    resolve_gets = hub.count("GET", "/resolve/")
    await watches_b.sync()
    assert on_b.version == commit_b
    assert (await in_thread(api_b.model_info, "org/shared", revision="main")).sha == commit_b
    assert await download(b, tmp_path / "b", "org/shared", "w.bin") == new
    assert hub.count("GET", "/resolve/") == resolve_gets, "B served A's pre-warmed commit from the volume"
    assert hub.cdn_gets(hashlib.sha256(new).hexdigest()) == 1

    await call(a, "DELETE", "/v1/watches", url="hf://org/shared", expect=200)
    await watches_b.sync()
    assert watches_b.get("hf://org/shared") is None
