"""Path hand-off: with the proxy's cache volume mounted, blobs are read from it (no body bytes over
the network); a blob on the mount that does not match its digest is detected and HTTP used."""

from __future__ import annotations

import logging
import os
import shutil
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from safetensors.torch import load_file, save_file

from modelmanager_client import DownloadInfo, load_safetensors, modelmanager_download
from tests.client.conftest import blocking, host
from tests.client.metrics import served_bytes
from tests.client.test_tensors import assert_same, make_tensors
from tests.conftest import Proxy
from tests.fakes.fake_hub import FakeHub


async def warm(proxy: Proxy, info: DownloadInfo) -> None:
    """The proxy holds the file (a stock client's GET)."""
    async with proxy.session.get(proxy.server.make_url(f"/{info.repo_id}/resolve/main/{info.filename}")) as r:
        assert r.status == 200
        await r.read()


@pytest.fixture
async def warm_weights(hf_proxy: Callable[..., Awaitable[Proxy]], hub: FakeHub,
                       tmp_path: Path) -> tuple[Proxy, DownloadInfo, Path]:
    proxy = await hf_proxy()
    local = tmp_path / "model.safetensors"
    save_file(make_tensors(), str(local))
    hub.create("org/w").commit({"model.safetensors": local.read_bytes()})
    info = DownloadInfo("org/w", "model.safetensors", host=host(proxy))
    await warm(proxy, info)
    return proxy, info, local


async def test_download_and_load_read_the_mounted_volume(warm_weights: tuple[Proxy, DownloadInfo, Path],
                                                         cache_dir: Path,
                                                         monkeypatch: pytest.MonkeyPatch,
                                                         caplog: pytest.LogCaptureFixture) -> None:
    proxy, info, local = warm_weights
    monkeypatch.setenv("MODELMANAGER_CACHE_MOUNT", str(cache_dir))
    sent = await served_bytes(proxy)
    with caplog.at_level(logging.INFO, logger="modelmanager_client.transport"):
        tensors = await blocking(load_safetensors, info)
        path = Path(await blocking(modelmanager_download, info))
    assert_same(tensors, load_file(str(local)))
    assert path.read_bytes() == local.read_bytes()
    assert await served_bytes(proxy) == sent  # not one body byte over HTTP
    assert caplog.text.count("handoff (blob at") == 2
    assert "blake3 verified" in caplog.text


async def test_corrupt_blob_on_the_mount_is_detected_and_http_used(warm_weights: tuple[Proxy, DownloadInfo, Path],
                                                                   cache_dir: Path,
                                                                   tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                   caplog: pytest.LogCaptureFixture) -> None:
    proxy, info, local = warm_weights
    volume = cache_dir
    mount = tmp_path / "mount"  # what this node sees of the volume: the same blob, one byte flipped
    shutil.copytree(volume / "blobs", mount / "blobs")
    (blob,) = [p for p in (mount / "blobs").rglob("*") if p.is_file()]
    os.chmod(blob, 0o644)
    data = bytearray(blob.read_bytes())
    data[len(data) // 2] ^= 0xFF
    blob.write_bytes(bytes(data))
    monkeypatch.setenv("MODELMANAGER_CACHE_MOUNT", str(mount))
    sent = await served_bytes(proxy)
    with caplog.at_level(logging.INFO, logger="modelmanager_client"):
        tensors = await blocking(load_safetensors, info)
        path = Path(await blocking(modelmanager_download, info))
    assert_same(tensors, load_file(str(local)))
    assert path.read_bytes() == local.read_bytes()
    assert await served_bytes(proxy) == sent + 2 * local.stat().st_size  # both came over HTTP
    assert caplog.text.count("http (") == 2
    assert caplog.text.count("handoff: digest mismatch") == 2
