"""The node tier: files it holds survive the proxy going away; eight processes on one node make
one transfer from the proxy; pruning drops expired, then least recently used, blobs."""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from modelmanager_client import DownloadInfo, Offline, ProxyUnavailable, modelmanager_download, modelmanager_snapshot
from modelmanager_client.node import LOCK_AGE, NodeTier
from tests.client.conftest import Dirs, blocking, host
from tests.client.metrics import served_bytes
from tests.conftest import Proxy
from tests.fakes.fake_hub import FakeHub

MiB = 1 << 20


async def test_node_tier_serves_its_files_with_the_proxy_stopped(
        hf_proxy: Callable[..., Awaitable[Proxy]], hub: FakeHub, dirs: Dirs,
        caplog: pytest.LogCaptureFixture) -> None:
    proxy = await hf_proxy()
    data = os.urandom(2 * MiB)
    hub.create("org/m").commit({"w.bin": data})
    url = host(proxy)
    info = DownloadInfo("org/m", "w.bin", host=url)
    first = Path(await blocking(modelmanager_download, info))
    await proxy.server.close()
    shutil.rmtree(dirs.hf)  # only the node tier is left
    with caplog.at_level(logging.INFO, logger="modelmanager_client.transport"):
        again = Path(await blocking(modelmanager_download, info))
    assert again == first
    assert again.read_bytes() == data
    assert "node (node tier" in caplog.text
    assert "proxy unreachable" in caplog.text
    with pytest.raises(ProxyUnavailable):
        await blocking(modelmanager_download, DownloadInfo("org/m", "other.bin", host=url))


async def test_snapshot_from_the_node_tier_with_the_proxy_stopped(hf_proxy: Callable[..., Awaitable[Proxy]],
                                                                  hub: FakeHub, dirs: Dirs) -> None:
    proxy = await hf_proxy()
    files = {"config.json": b'{"a": 1}', "w/model.safetensors": os.urandom(300_000)}
    commit = hub.create("org/s").commit(files)
    url = host(proxy)
    await blocking(modelmanager_snapshot, DownloadInfo("org/s", host=url))
    await proxy.server.close()
    shutil.rmtree(dirs.hf)
    folder = Path(await blocking(modelmanager_snapshot, DownloadInfo("org/s", host=url)))
    assert folder.name == commit
    assert {p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*") if p.is_file()} == files


async def test_hf_hub_offline_uses_the_node_tier_and_asks_nothing(
        hf_proxy: Callable[..., Awaitable[Proxy]], hub: FakeHub, dirs: Dirs, monkeypatch: pytest.MonkeyPatch) -> None:
    """With ``HF_HUB_OFFLINE=1`` a file and a snapshot the node tier holds are served from it (a
    file of ``main`` through the commit its last listing named), and the proxy is not asked at
    all (the host is a socket that counts connections); anything else raises Offline."""
    proxy = await hf_proxy()
    files = {"config.json": b'{"a": 1}', "w.bin": os.urandom(300_000)}
    commit = hub.create("org/off").commit(files)
    await blocking(modelmanager_snapshot, DownloadInfo("org/off", host=host(proxy)))  # the tier has w.bin @commit
    connections = 0

    def count(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal connections
        connections += 1
        writer.close()

    listener = await asyncio.start_server(count, "127.0.0.1", 0)
    url = f"http://127.0.0.1:{listener.sockets[0].getsockname()[1]}"
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    shutil.rmtree(dirs.hf)
    try:
        got = Path(await blocking(modelmanager_download, DownloadInfo("org/off", "w.bin", host=url)))
        assert got.read_bytes() == files["w.bin"]
        folder = Path(await blocking(modelmanager_snapshot, DownloadInfo("org/off", host=url)))
        assert folder.name == commit
        assert {p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*") if p.is_file()} == files
        with pytest.raises(Offline, match="HF_HUB_OFFLINE"):
            await blocking(modelmanager_download, DownloadInfo("org/off", "other.bin", host=url))
    finally:
        listener.close()
    assert connections == 0, "offline means the proxy is never asked"


async def test_eight_processes_on_one_node_make_one_transfer(hf_proxy: Callable[..., Awaitable[Proxy]],
                                                             hub: FakeHub, dirs: Dirs, tmp_path: Path) -> None:
    proxy = await hf_proxy()
    data = os.urandom(3 * MiB + 11)
    hub.create("org/herd").commit({"model.safetensors": data})
    env = dict(os.environ, MODELMANAGER_URL=host(proxy))

    async def one(i: int) -> tuple[int, str]:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "modelmanager_client", "download", "org/herd", "model.safetensors",
            "--cache-dir", str(tmp_path / f"hf-{i}"), env=env,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
        out, _ = await proc.communicate()
        assert proc.returncode is not None
        return proc.returncode, out.decode().strip()

    results = await asyncio.gather(*(one(i) for i in range(8)))
    for code, out in results:
        assert code == 0, out
        assert Path(out.splitlines()[-1]).read_bytes() == data
    assert await served_bytes(proxy) == len(data)  # one transfer from the proxy to this node
    blobs = [p for p in (dirs.tier / "blobs").rglob("*") if p.is_file()]
    assert len(blobs) == 1
    assert blobs[0].stat().st_nlink == 1 + 8  # the node tier's blob, hard-linked into each HF cache


def test_prune_drops_expired_then_least_recently_used(tmp_path: Path) -> None:
    tier = NodeTier(tmp_path / "tier", max_bytes=250, ttl=3600)
    now = time.time()
    ages = {"a" * 64: 7200.0, "b" * 64: 300.0, "c" * 64: 200.0, "d" * 64: 100.0}
    for digest, age in ages.items():
        path = tier.blob(digest)
        path.parent.mkdir(exist_ok=True)
        path.write_bytes(b"x" * 100)
        os.utime(path, (now - age, now - age))
    pruned = tier.prune(now=now)
    assert (pruned.removed, pruned.kept, pruned.kept_bytes) == (2, 2, 200)
    assert [d for d in ages if tier.blob(d).exists()] == ["c" * 64, "d" * 64]
    assert tier.get("c" * 64) is not None  # a use makes it the most recent
    assert tier.prune(max_bytes=100, now=time.time()).removed == 1
    assert tier.blob("c" * 64).exists()
    assert not tier.blob("d" * 64).exists()


async def test_downloads_keep_the_tier_within_its_bound(hf_proxy: Callable[..., Awaitable[Proxy]], hub: FakeHub,
                                                        dirs: Dirs, monkeypatch: pytest.MonkeyPatch) -> None:
    proxy = await hf_proxy()
    a = os.urandom(200_000)
    commit = hub.create("org/b").commit({"a.bin": a, "b.bin": os.urandom(200_000)})
    monkeypatch.setenv("MODELMANAGER_CLIENT_CACHE_MAX_BYTES", "300000")
    await blocking(modelmanager_download, DownloadInfo("org/b", "a.bin", host=host(proxy)))
    assert len([p for p in (dirs.tier / "blobs").rglob("*") if p.is_file()]) == 1
    (dirs.tier / "pruned").unlink()  # as if the last prune on this node were a minute old
    got = Path(await blocking(modelmanager_download, DownloadInfo("org/b", "b.bin", host=host(proxy))))
    (kept,) = [p for p in (dirs.tier / "blobs").rglob("*") if p.is_file()]
    assert kept.samefile(got)  # the older blob went; the HF cache still has its own link to it
    assert (dirs.hf / "models--org--b" / "snapshots" / commit / "a.bin").read_bytes() == a


def test_prune_removes_lock_files_not_taken_for_a_day_unless_held(tmp_path: Path) -> None:
    tier = NodeTier(tmp_path / "tier", max_bytes=1 << 30, ttl=3600)
    old, recent, held = tier.lock("old version"), tier.lock("recent version"), tier.lock("being fetched")
    for lock in (old, recent, held):
        with lock:
            pass
    now = time.time()
    for lock, age in ((old, 2 * LOCK_AGE), (recent, 60.0), (held, 2 * LOCK_AGE)):
        os.utime(lock.lock_file, (now - age, now - age))
    with held:  # a download holds it (its own descriptor: another process's lock, to flock)
        tier.prune(now=now)
    assert not Path(old.lock_file).exists()
    assert Path(recent.lock_file).exists()
    assert Path(held.lock_file).exists()
