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


async def test_a_gcs_prefix_snapshot_is_byte_exact(gcs_proxy: GcsProxy, gcs: GcsAdmin, gcs_bucket: str,
                                                  tmp_path: Path) -> None:
    files = {"config.json": b"{}", "model.safetensors": os.urandom(200_000), "sub dir/tok.json": b"[]"}
    for name, body in files.items():
        await gcs.upload(gcs_bucket, f"llama/{name}", body)
    await gcs.upload(gcs_bucket, "llama2/other.bin", b"not under the prefix")
    info = DownloadInfo(f"{gcs_bucket}/llama", provider="gcs", host=host(gcs_proxy.proxy))
    folder = Path(await blocking(modelmanager_snapshot, info, local_dir=tmp_path / "snap", allow_patterns=["*"]))
    got = {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}
    assert got == files
    assert len(gcs_proxy.relay.bodies()) == 3


async def test_v1_list_answers_store_prefixes_only(gcs_proxy: GcsProxy, gcs: GcsAdmin, gcs_bucket: str) -> None:
    await gcs.upload(gcs_bucket, "m/a.bin", b"alpha")
    session, server = gcs_proxy.proxy.session, gcs_proxy.proxy.server
    async with session.get(server.make_url("/v1/list").with_query(url=f"gs://{gcs_bucket}/m/")) as r:
        assert r.status == 200
        body = await r.json()
    assert body["files"] == [{"path": "a.bin", "size": 5}]
    assert len(body["version"]) == 32
    for url, status in ((f"gs://not-{gcs_bucket}/m/", 403), ("https://example.com/x", 400), ("gs://UP/x", 400)):
        async with session.get(server.make_url("/v1/list").with_query(url=url)) as r:
            assert r.status == status, url
