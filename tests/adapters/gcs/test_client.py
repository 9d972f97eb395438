"""The client library downloads gs:// files through the proxy (provider GCS, and a gs:// URL as an
HTTP-provider URL), byte-exact, into the node tier's file tree."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from modelmanager_client import DownloadInfo, modelmanager_download, modelmanager_snapshot
from tests.adapters.gcs.conftest import GcsProxy
from tests.client.conftest import blocking, host
from tests.fakes.gcs_server import GcsAdmin


@pytest.fixture(autouse=True)
def client_tier(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The client's node tier in this test's folder, no hand-off (as tests/client/conftest sets up)."""
    monkeypatch.setenv("MODELMANAGER_CLIENT_CACHE", str(tmp_path / "tier"))
    monkeypatch.setenv("MODELMANAGER_CACHE_MOUNT", "")


async def test_gcs_provider_and_gs_urls_download_byte_exact(gcs_proxy: GcsProxy, gcs: GcsAdmin, gcs_bucket: str,
                                                            tmp_path: Path) -> None:
    body = os.urandom(300_000)
    await gcs.upload(gcs_bucket, "llama/model.safetensors", body)
    info = DownloadInfo(f"{gcs_bucket}/llama", "model.safetensors", provider="gcs", host=host(gcs_proxy.proxy))
    path = Path(await blocking(modelmanager_download, info, cache_dir=tmp_path / "files"))
    assert path == tmp_path / "files" / "gs" / gcs_bucket / "llama" / "model.safetensors"
    assert path.read_bytes() == body
    url = DownloadInfo(f"gs://{gcs_bucket}/llama/model.safetensors", provider="http", host=host(gcs_proxy.proxy))
    local = Path(await blocking(modelmanager_download, url, local_dir=tmp_path / "local"))
    assert local.read_bytes() == body
    assert len(gcs_proxy.relay.bodies()) == 1  # both through the one cached entry
    with pytest.raises(ValueError, match="S3 API"):
        await blocking(modelmanager_snapshot, DownloadInfo(gcs_bucket, provider="gcs", host=host(gcs_proxy.proxy)))
