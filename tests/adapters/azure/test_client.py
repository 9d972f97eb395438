"""The client library downloads az:// files through the proxy (provider Azure, and an az:// URL as
an HTTP-provider URL), byte-exact, into the node tier's file tree."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from modelmanager_client import DownloadInfo, modelmanager_download, modelmanager_snapshot
from tests.adapters.azure.conftest import AzureProxy, Blobs
from tests.client.conftest import blocking, host
from tests.fakes.azurite import ACCOUNT


@pytest.fixture(autouse=True)
def client_tier(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The client's node tier in this test's folder, no hand-off (as tests/client/conftest sets up)."""
    monkeypatch.setenv("MODELMANAGER_CLIENT_CACHE", str(tmp_path / "tier"))
    monkeypatch.setenv("MODELMANAGER_CACHE_MOUNT", "")


async def test_azure_provider_and_az_urls_download_byte_exact(az_proxy: AzureProxy, blobs: Blobs,
                                                              tmp_path: Path) -> None:
    body = os.urandom(300_000)
    await blobs.put("llama/model.safetensors", body)
    info = DownloadInfo(f"{ACCOUNT}/{blobs.name}/llama", "model.safetensors", provider="azure",
                        host=host(az_proxy.proxy))
    path = Path(await blocking(modelmanager_download, info, cache_dir=tmp_path / "files"))
    assert path == tmp_path / "files" / "az" / ACCOUNT / blobs.name / "llama" / "model.safetensors"
    assert path.read_bytes() == body
    url = DownloadInfo(f"az://{ACCOUNT}/{blobs.name}/llama/model.safetensors", provider="http",
                       host=host(az_proxy.proxy))
    local = Path(await blocking(modelmanager_download, url, local_dir=tmp_path / "local"))
    assert local.read_bytes() == body
    assert len(az_proxy.relay.bodies()) == 1  # both through the one cached entry


async def test_an_azure_prefix_snapshot_is_byte_exact(az_proxy: AzureProxy, blobs: Blobs, tmp_path: Path) -> None:
    files = {"config.json": b"{}", "model.safetensors": os.urandom(200_000), "sub dir/tok.json": b"[]"}
    for name, body in files.items():
        await blobs.put(f"llama/{name}", body)
    await blobs.put("llama2/other.bin", b"not under the prefix")
    info = DownloadInfo(f"{ACCOUNT}/{blobs.name}/llama", provider="azure", host=host(az_proxy.proxy))
    folder = Path(await blocking(modelmanager_snapshot, info, cache_dir=tmp_path / "files"))
    assert folder == tmp_path / "files" / "az" / ACCOUNT / blobs.name / "llama"
    got = {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}
    assert got == files
