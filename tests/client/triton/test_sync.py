"""``triton sync`` through a real proxy: HF, S3 and HTTP sources laid out byte-exact, as hard links
of the proxy's blobs when its volume is mounted, as verified copies across filesystems; each
version appears whole; loaded by the Triton emulator over HTTP and gRPC."""

from __future__ import annotations

import asyncio
import hashlib
import os
import shutil
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path

import boto3
import pytest
from yarl import URL

from modelmanager_client.node import NodeTier
from modelmanager_client.triton.models import load
from modelmanager_client.triton.repository import Repository
from modelmanager_client.triton.sync import Synced, Syncer
from tests.client.conftest import Dirs, host
from tests.client.triton.conftest import Emulator, triton_cli, until
from tests.conftest import Proxy
from tests.fakes.fake_http import FakeUpstream
from tests.fakes.fake_hub import FakeHub
from tests.fakes.s3_servers import ACCESS_KEY, SECRET_KEY, MotoServer

MiB = 1 << 20
CONFIG = b'backend: "onnxruntime"\nmax_batch_size: 8\n'
CPU_CONFIG = b'backend: "onnxruntime"\nmax_batch_size: 8\ninstance_group [{ kind: KIND_CPU }]\n'


def tree(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()
            and not p.name.startswith(".")}


def write_models(tmp_path: Path, text: str) -> Path:
    (tmp_path / "configs").mkdir(exist_ok=True)
    (tmp_path / "configs" / "config.pbtxt").write_bytes(CONFIG)
    (tmp_path / "configs" / "config-cpu.pbtxt").write_bytes(CPU_CONFIG)
    path = tmp_path / "models.toml"
    path.write_text(text)
    return path


@pytest.fixture
def bucket(moto: MotoServer) -> tuple[str, dict[str, bytes]]:
    name = f"models-{uuid.uuid4().hex[:12]}"
    s3 = boto3.session.Session().client("s3", endpoint_url=moto.url, aws_access_key_id=ACCESS_KEY,
                                        aws_secret_access_key=SECRET_KEY, region_name="us-east-1")
    s3.create_bucket(Bucket=name)
    objects = {"bert/model.onnx": os.urandom(2 * MiB + 3), "bert/vocab.txt": b"a\nb\n", "bert/notes.md": b"skip"}
    for key, body in objects.items():
        s3.put_object(Bucket=name, Key=key, Body=body)
    return name, objects


@pytest.mark.parametrize("scheme", ["http", "grpc"])
async def test_hf_s3_and_http_sources_are_laid_out_byte_exact_and_load(
        scheme: str, start_proxy: Callable[..., Awaitable[Proxy]], hub: FakeHub, moto: MotoServer,
        bucket: tuple[str, dict[str, bytes]], upstream: tuple[FakeUpstream, URL], emulator: Emulator,
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    hf_onnx, http_onnx = os.urandom(3 * MiB + 1), os.urandom(MiB + 9)
    hub.create("org/resnet").commit({"onnx/model.onnx": hf_onnx, "labels.txt": b"cat\ndog\n", "README.md": b"#"})
    fake, base = upstream
    fake.add("/m/model.onnx", http_onnx)
    name, objects = bucket
    proxy = await start_proxy(hf_endpoint=str(hub.hub_url), s3_upstream_endpoint=moto.url,
                              s3_upstream_access_key_id=ACCESS_KEY, s3_upstream_secret_access_key=SECRET_KEY,
                              s3_client_keys="team:s3cret")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "team")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "s3cret")
    models = write_models(tmp_path, f"""
[models.resnet]
source = "hf://org/resnet@main"
files = ["onnx/model.onnx", "labels.txt"]
rename = {{ "onnx/model.onnx" = "model.onnx" }}
config = "configs/config.pbtxt"
cpu_config = "configs/config-cpu.pbtxt"

[models.bert]
source = "s3://{name}/bert"
exclude = ["*.md"]
version = 3
config = "configs/config.pbtxt"

[models.plain]
source = "{base / 'm' / 'model.onnx'}"
config = "configs/config.pbtxt"
""")
    repo = emulator.core.repository
    url = emulator.http_url if scheme == "http" else emulator.grpc_url
    ran = await triton_cli("--models", str(models), "--repository", str(repo), "--triton-url", url,
                           "--host", host(proxy), "sync", "--load", "--cpu")
    assert ran.code == 0, ran.err
    assert tree(repo / "resnet") == {"config.pbtxt": CPU_CONFIG, "1/model.onnx": hf_onnx, "1/labels.txt": b"cat\ndog\n"}
    assert tree(repo / "bert") == {"config.pbtxt": CONFIG, "3/model.onnx": objects["bert/model.onnx"],
                                   "3/vocab.txt": b"a\nb\n"}
    assert tree(repo / "plain") == {"config.pbtxt": CONFIG, "1/model.onnx": http_onnx}
    assert {(r["name"], r.get("version"), r.get("state")) for r in emulator.core.index()} == {
        ("resnet", "1", "READY"), ("bert", "3", "READY"), ("plain", "1", "READY")}
    assert fake.count("/m/model.onnx") == 1
    again = await triton_cli("--models", str(models), "--repository", str(repo), "--host", host(proxy), "sync")
    assert again.code == 0, again.err
    assert again.out.count("up to date") == 3
    status = await triton_cli("--triton-url", url, "status")
    assert status.code == 0
    assert "resnet\t1\tREADY" in status.out
    config = await triton_cli("--triton-url", url, "config", "resnet")
    assert config.code == 0
    assert '"max_batch_size": 8' in config.out
    assert '"KIND_CPU"' in config.out


async def test_hard_links_from_the_mounted_volume_and_copies_across_filesystems(
        hf_proxy: Callable[..., Awaitable[Proxy]], hub: FakeHub, tmp_path: Path, cache_dir: Path, dirs: Dirs,
        monkeypatch: pytest.MonkeyPatch) -> None:
    weights = os.urandom(2 * MiB + 5)
    hub.create("org/w").commit({"model.onnx": weights})
    proxy = await hf_proxy()
    models = write_models(tmp_path, '[models.w]\nsource = "hf://org/w"\nconfig = "configs/config.pbtxt"\n')
    first = await triton_cli("--models", str(models), "--repository", str(tmp_path / "a"), "--host", host(proxy),
                             "sync")
    assert first.code == 0, first.err
    assert "node-link" in first.out  # no volume mounted: the node tier's copy, hard-linked
    (tmp_path / "configs" / "config.pbtxt").write_bytes(CPU_CONFIG)
    again = await triton_cli("--models", str(models), "--repository", str(tmp_path / "a"), "--host", host(proxy),
                             "sync")
    assert "w: config.pbtxt updated" in again.out
    assert "w/1: up to date" in again.out
    assert (tmp_path / "a" / "w" / "config.pbtxt").read_bytes() == CPU_CONFIG
    monkeypatch.setenv("MODELMANAGER_CACHE_MOUNT", str(cache_dir))
    linked = await triton_cli("--models", str(models), "--repository", str(tmp_path / "b"), "--host", host(proxy),
                              "sync")
    assert linked.code == 0, linked.err
    assert "volume-link" in linked.out
    laid = tmp_path / "b" / "w" / "1" / "model.onnx"
    (blob,) = [p for p in (cache_dir / "blobs").rglob("*") if p.is_file() and p.stat().st_size == len(weights)]
    assert laid.stat().st_ino == blob.stat().st_ino
    assert laid.read_bytes() == weights
    shm = Path("/dev/shm")
    if not shm.is_dir() or shm.stat().st_dev == tmp_path.stat().st_dev:
        pytest.skip("no second filesystem (/dev/shm) to copy across")
    other = shm / f"mm-triton-{uuid.uuid4().hex[:8]}"
    monkeypatch.setenv("MODELMANAGER_CACHE_MOUNT", "")
    try:
        copied = await triton_cli("--models", str(models), "--repository", str(other), "--host", host(proxy), "sync")
        assert copied.code == 0, copied.err
        assert "(copy)" in copied.out
        assert (other / "w" / "1" / "model.onnx").read_bytes() == weights
        assert (other / "w" / "1" / "model.onnx").stat().st_nlink == 1
    finally:
        shutil.rmtree(other, ignore_errors=True)


async def test_a_version_appears_whole_and_triton_never_loads_it_half_written(
        proxy: Proxy, upstream: tuple[FakeUpstream, URL], emulator: Emulator, tmp_path: Path) -> None:
    fake, base = upstream
    v1, v2 = os.urandom(MiB), os.urandom(4 * MiB + 1)
    fake.add("/v1/model.onnx", v1)
    gated = fake.add("/v2/model.onnx", v2, gate=asyncio.Event())
    repo = emulator.core.repository
    models = write_models(tmp_path, f'[models.m]\nconfig = "configs/config.pbtxt"\n[models.m.versions]\n'
                                    f'1 = "{base / "v1" / "model.onnx"}"\n2 = "{base / "v2" / "model.onnx"}"\n')
    seen: list[dict[str, int]] = []

    def look() -> None:
        for version in ("1", "2"):
            folder = repo / "m" / version
            if folder.is_dir():
                seen.append({p.name: p.stat().st_size for p in folder.iterdir()})

    sync = asyncio.ensure_future(triton_cli("--models", str(models), "--repository", str(repo),
                                            "--host", host(proxy), "sync"))

    def building() -> bool:
        return (repo / "m").is_dir() and any(p.name.startswith(".modelmanager-staging-2.")
                                             for p in (repo / "m").iterdir())

    await until(building)  # version 2 is being built; its upstream transfer is held mid-body
    look()
    assert (repo / "m" / "1").is_dir()
    assert not (repo / "m" / "2").exists()
    emulator.core.load("m")  # Triton loads what is whole: version 1 only
    assert emulator.core.ready_versions("m") == [1]
    assert gated.gate is not None
    gated.gate.set()
    ran = await sync
    assert ran.code == 0, ran.err
    look()
    assert all(entry == {"model.onnx": len(v1)} or entry == {"model.onnx": len(v2)} for entry in seen)
    assert not any(p.name.startswith(".modelmanager-staging") for p in (repo / "m").iterdir())
    emulator.core.load("m")
    assert emulator.core.ready_versions("m") == [2]
    assert emulator.core.models["m"][2].loaded == {"model.onnx": hashlib.sha256(v2).hexdigest()}


async def test_two_syncs_of_one_repository_at_once_both_succeed(
        hf_proxy: Callable[..., Awaitable[Proxy]], hub: FakeHub, tmp_path: Path) -> None:
    weights = os.urandom(MiB + 1)
    hub.create("org/w").commit({"model.onnx": weights})
    proxy = await hf_proxy()
    models = write_models(tmp_path, '[models.w]\nsource = "hf://org/w"\nconfig = "configs/config.pbtxt"\n')

    def sync() -> list[Synced]:
        return Syncer(load(models), Repository(tmp_path / "shared"), host(proxy), NodeTier()).sync()

    first, second = await asyncio.gather(asyncio.to_thread(sync), asyncio.to_thread(sync))  # two pods at once
    assert [s.outcome for s in first + second].count("laid out") >= 1
    assert tree(tmp_path / "shared" / "w") == {"config.pbtxt": CONFIG, "1/model.onnx": weights}
    assert [p.name for p in (tmp_path / "shared").iterdir()] == ["w"]


async def test_a_failing_model_is_reported_and_the_others_are_still_laid_out(
        hf_proxy: Callable[..., Awaitable[Proxy]], hub: FakeHub, tmp_path: Path) -> None:
    hub.create("org/ok").commit({"model.onnx": b"weights"})
    proxy = await hf_proxy()
    models = write_models(tmp_path, '[models.gone]\nsource = "hf://org/missing"\n'
                                    '[models.nomatch]\nsource = "hf://org/ok"\nfiles = ["*.plan"]\n'
                                    '[models.ok]\nsource = "hf://org/ok"\n')
    ran = await triton_cli("--models", str(models), "--repository", str(tmp_path / "r"), "--host", host(proxy), "sync")
    assert ran.code == 1
    assert "gone/1: FAILED:" in ran.out
    assert "RepoNotFound Repository not found" in ran.out
    assert "nomatch/1: FAILED: org/ok: no file matches ['*.plan']" in ran.out
    assert "sync failed for gone, nomatch" in ran.err
    assert tree(tmp_path / "r" / "ok") == {"1/model.onnx": b"weights"}
    assert sorted(p.name for p in (tmp_path / "r").iterdir()) == ["ok"]
