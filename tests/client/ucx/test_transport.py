"""The client's ``ucx`` transport through ``modelmanager_download`` / ``load_safetensors``: used when
configured, after path hand-off, falling back to HTTP (byte-exact) when the sidecar is wrong or dies."""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from safetensors.torch import load_file, save_file

from modelmanager_client import DownloadInfo, load_safetensors, modelmanager_download
from modelmanager_client.download import download
from tests.client.conftest import Dirs, blocking, host
from tests.client.metrics import served_bytes
from tests.client.test_tensors import assert_same, make_tensors
from tests.conftest import Proxy
from tests.fakes.fake_hub import FakeHub
from tests.ucx_sidecar.conftest import Committed, commit
from tests.ucx_sidecar.process import ENGINES, ROOT, SECRET, needs_ucxx, set_ucx_env, sidecar

EXPLAIN = "modelmanager_client.transport"


@pytest.fixture(autouse=True)
def ucx_env(monkeypatch: pytest.MonkeyPatch) -> None:
    set_ucx_env(monkeypatch)
    monkeypatch.setenv("MODELMANAGER_UCX_SECRET", SECRET)


@pytest.fixture
async def committed(hf_proxy: Callable[..., Awaitable[Proxy]], hub: FakeHub, cache_dir: Path) -> Committed:
    return await commit(await hf_proxy(), hub, cache_dir, os.urandom(48 << 20))


def info_of(committed: Committed) -> DownloadInfo:
    return DownloadInfo("org/blob", "model.bin", host=host(committed.proxy))


@pytest.mark.parametrize("engine", ENGINES)
async def test_download_moves_no_http_body_bytes_when_the_sidecar_serves(committed: Committed, engine: str,
                                                                         monkeypatch: pytest.MonkeyPatch,
                                                                         caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setenv("MODELMANAGER_UCX_ENGINE", engine)
    with sidecar(committed.cache, engines=engine) as side:
        monkeypatch.setenv("MODELMANAGER_UCX", side.address)
        sent = await served_bytes(committed.proxy)
        with caplog.at_level(logging.INFO, logger=EXPLAIN):
            path = Path(await blocking(modelmanager_download, info_of(committed)))
    assert path.read_bytes() == committed.data
    assert await served_bytes(committed.proxy) == sent  # every body byte came over UCX
    assert f"ucx ({engine} from sidecar {side.address}): {len(committed.data):,} bytes in" in caplog.text
    assert "GB/s" in caplog.text


@needs_ucxx
async def test_load_safetensors_over_ucx(hf_proxy: Callable[..., Awaitable[Proxy]], hub: FakeHub, cache_dir: Path,
                                         tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                         caplog: pytest.LogCaptureFixture) -> None:
    local = tmp_path / "w.safetensors"
    save_file(make_tensors(), str(local))
    committed = await commit(await hf_proxy(), hub, cache_dir, local.read_bytes(), "org/w", "model.safetensors")
    with sidecar(committed.cache) as side:
        monkeypatch.setenv("MODELMANAGER_UCX", side.address)
        sent = await served_bytes(committed.proxy)
        with caplog.at_level(logging.INFO, logger=EXPLAIN):
            tensors = await blocking(load_safetensors, DownloadInfo("org/w", "model.safetensors",
                                                                    host=host(committed.proxy)))
    assert_same(tensors, load_file(str(local)))
    assert await served_bytes(committed.proxy) == sent
    assert "ucx (ucxx from sidecar" in caplog.text


@needs_ucxx
async def test_sidecar_killed_mid_transfer_falls_back_to_http_byte_exact(committed: Committed,
                                                                        monkeypatch: pytest.MonkeyPatch,
                                                                        caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setenv("MODELMANAGER_UCX_STREAMS", "2")  # a second range is in flight when the kill comes
    with sidecar(committed.cache) as side:
        monkeypatch.setenv("MODELMANAGER_UCX", side.address)
        landed: list[int] = []

        def on_bytes(n: int) -> None:  # runs in the reading thread, after each range lands
            landed.append(n)
            if len(landed) == 1:
                side.kill()

        sent = await served_bytes(committed.proxy)
        with caplog.at_level(logging.INFO, logger=EXPLAIN):
            path = await blocking(download, info_of(committed), on_bytes=on_bytes)
    assert path.read_bytes() == committed.data
    assert side.process.returncode == -9
    explained = next(r.getMessage() for r in caplog.records if "ucx (ucxx" in r.getMessage())
    by_ucx = int(explained.split("ucx failed after ")[1].split(" bytes")[0].replace(",", ""))
    assert 0 < by_ucx < len(committed.data)
    assert await served_bytes(committed.proxy) == sent + len(committed.data) - by_ucx  # HTTP moved exactly the rest
    assert f"http read {len(committed.data) - by_ucx:,} bytes" in explained


@needs_ucxx
async def test_the_choice_follows_configuration(committed: Committed, dirs: Dirs, monkeypatch: pytest.MonkeyPatch,
                                                caplog: pytest.LogCaptureFixture) -> None:
    info = info_of(committed)

    async def explained(**env: str) -> str:
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        shutil.rmtree(dirs.tier, ignore_errors=True)  # the node tier would answer first
        caplog.clear()
        with caplog.at_level(logging.INFO, logger=EXPLAIN):
            await blocking(modelmanager_download, info, force=True)
        [message] = [r.getMessage() for r in caplog.records if r.name == EXPLAIN]
        return message

    assert (await explained()).startswith("HF:model:org/blob@main/model.bin: http (")  # not configured
    with sidecar(committed.cache) as side:
        assert ": ucx (ucxx from sidecar" in await explained(MODELMANAGER_UCX=side.address)
        refused = await explained(MODELMANAGER_UCX_SECRET="wrong")
        assert ": http (" in refused
        assert "ucx: sidecar" in refused
        assert "authentication failed" in refused
        monkeypatch.setenv("MODELMANAGER_UCX_SECRET", SECRET)
        mounted = await explained(MODELMANAGER_CACHE_MOUNT=str(committed.cache))
        assert ": handoff (blob at" in mounted  # on one node the mounted volume wins: no bytes move
        monkeypatch.setenv("MODELMANAGER_CACHE_MOUNT", "")
        assert ": ucx (ucxx from sidecar" in await explained(MODELMANAGER_UCX_ENGINE="ucxx")
        assert "MODELMANAGER_UCX_ENGINE='rdma'" in await explained(MODELMANAGER_UCX_ENGINE="rdma")
    monkeypatch.setenv("MODELMANAGER_UCX_ENGINE", "ucxx")
    gone = await explained()
    assert ": http (" in gone
    assert "Connection refused" in gone
    assert Path(await blocking(modelmanager_download, info)).read_bytes() == committed.data


def test_nothing_of_ucx_is_imported_unless_configured(tmp_path: Path) -> None:
    code = ("import sys, modelmanager_client, modelmanager_client.transport, ucx_sidecar, ucx_sidecar.blobs, "
            "ucx_sidecar.server\n"
            "from modelmanager_client.transport import transports\n"
            "assert transports() == []\n"
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('ucxx', 'nixl', 'nixl_cu12', 'nixl_cu13')))")
    env = {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{ROOT / 'client'}"}
    env.pop("MODELMANAGER_UCX", None)
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    assert result.stdout.strip() == "[]"
