"""A Triton model repository laid out from gs:// and az:// sources of the models file
(``modelmanager-client triton sync --load``), byte-exact, through the proxy, against fake-gcs-server
and Azurite; the Triton emulator loads both models."""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from tests.adapters.azure.conftest import Blobs, az_relay, azurite, blobs
from tests.adapters.gcs.conftest import GcsProxy
from tests.client.conftest import host
from tests.client.triton.conftest import Emulator, emulator, triton_cli
from tests.client.triton.test_sync import CONFIG, tree, write_models
from tests.fakes.azurite import ACCOUNT, KEY
from tests.fakes.cloud_relay import CloudRelay
from tests.fakes.gcs_server import GcsAdmin

__all__ = ["az_relay", "azurite", "blobs", "emulator"]  # fixtures of other folders, used here


@pytest.fixture(autouse=True)
def client_tier(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MODELMANAGER_CLIENT_CACHE", str(tmp_path / "tier"))
    monkeypatch.setenv("MODELMANAGER_CACHE_MOUNT", "")


async def test_gs_and_az_sources_are_laid_out_byte_exact_and_load(
        start_gcs: Callable[..., Awaitable[GcsProxy]], gcs: GcsAdmin, gcs_bucket: str,
        az_relay: tuple[CloudRelay, str], blobs: Blobs, emulator: Emulator, tmp_path: Path) -> None:
    gcs_onnx, az_onnx = os.urandom(2 * 1024 * 1024 + 1), os.urandom(1024 * 1024 + 7)
    await gcs.upload(gcs_bucket, "bert/model.onnx", gcs_onnx)
    await gcs.upload(gcs_bucket, "bert/vocab.txt", b"a\nb\n")
    await gcs.upload(gcs_bucket, "bert/notes.md", b"skip")
    await blobs.put("resnet/model.onnx", az_onnx)
    gp = await start_gcs(azure_endpoint=az_relay[1] + "/{account}", azure_account_key=KEY,
                         azure_allow=(f"{ACCOUNT}/models-*",))
    models = write_models(tmp_path, f"""
[models.bert]
source = "gs://{gcs_bucket}/bert"
exclude = ["*.md"]
version = 2
config = "configs/config.pbtxt"

[models.resnet]
source = "az://{ACCOUNT}/{blobs.name}/resnet"
config = "configs/config.pbtxt"
""")
    repo = emulator.core.repository
    ran = await triton_cli("--models", str(models), "--repository", str(repo), "--triton-url", emulator.http_url,
                           "--host", host(gp.proxy), "sync", "--load")
    assert ran.code == 0, ran.err
    assert tree(repo / "bert") == {"config.pbtxt": CONFIG, "2/model.onnx": gcs_onnx, "2/vocab.txt": b"a\nb\n"}
    assert tree(repo / "resnet") == {"config.pbtxt": CONFIG, "1/model.onnx": az_onnx}
    assert {(r["name"], r.get("version"), r.get("state")) for r in emulator.core.index()} == {
        ("bert", "2", "READY"), ("resnet", "1", "READY")}
