"""``triton watch``: a new upstream commit is pre-warmed through the proxy (a prefetch job), laid
out as the next version, loaded and reported ready by Triton (the emulator) while the old version
stays on disk; only after the grace period is the old version removed."""

from __future__ import annotations

import asyncio
import hashlib
import os
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path

import boto3
import pytest
from yarl import URL

from modelmanager_client.node import NodeTier
from modelmanager_client.triton.models import load
from modelmanager_client.triton.repository import Repository
from modelmanager_client.triton.server import Triton
from modelmanager_client.triton.sync import Syncer
from modelmanager_client.triton.watch import Watcher
from tests.client.conftest import host
from tests.client.triton.conftest import Emulator, triton_cli
from tests.conftest import ADMIN_TOKEN, Proxy
from tests.fakes.fake_http import FakeUpstream
from tests.fakes.fake_hub import FakeHub
from tests.fakes.s3_servers import ACCESS_KEY, SECRET_KEY, MotoServer

CONFIG = b'backend: "onnxruntime"\n'


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_a_new_commit_is_prewarmed_laid_out_loaded_then_the_old_version_retired(
        hf_proxy: Callable[..., Awaitable[Proxy]], hub: FakeHub, emulator: Emulator, tmp_path: Path) -> None:
    v1, v2 = os.urandom(1 << 20), os.urandom((1 << 20) + 17)
    repo_on_hub = hub.create("org/w")
    repo_on_hub.commit({"model.onnx": v1, "README.md": b"v1"})
    proxy = await hf_proxy(hf_revision_ttl=0)
    (tmp_path / "config.pbtxt").write_bytes(CONFIG)
    models = tmp_path / "models.toml"
    models.write_text('[models.w]\nsource = "hf://org/w@main"\nfiles = ["*.onnx"]\nconfig = "config.pbtxt"\n'
                      "watch = true\n")
    repo = emulator.core.repository
    first = await triton_cli("--models", str(models), "--repository", str(repo), "--triton-url", emulator.grpc_url,
                             "--host", host(proxy), "sync", "--load")
    assert first.code == 0, first.err
    assert emulator.core.ready_versions("w") == [1]

    clock, said = Clock(), list[str]()
    syncer = Syncer(load(models), Repository(repo), host(proxy), NodeTier(), report=said.append)
    triton = Triton(emulator.grpc_url)  # tritonclient.http (gevent) is bound to the thread that made it
    watcher = Watcher(syncer, triton, ADMIN_TOKEN, grace=600, clock=clock)
    assert await asyncio.to_thread(watcher.check, "w") is None  # upstream did not move
    assert Repository(repo).versions("w") == [1]

    commit = repo_on_hub.commit({"model.onnx": v2, "README.md": b"v2"})
    calls_before = len(emulator.core.calls)
    await asyncio.to_thread(watcher.step)
    assert Repository(repo).versions("w") == [1, 2]  # the old version is still on disk
    assert emulator.core.ready_versions("w") == [2]  # the new one is what Triton serves
    assert emulator.core.models["w"][2].loaded == {"model.onnx": hashlib.sha256(v2).hexdigest()}
    assert emulator.core.calls[calls_before:] == [("load", "w")]
    assert hub.cdn_gets(hashlib.sha256(v2).hexdigest()) == 1  # pre-warmed once, laid out from the cache
    assert Repository(repo).state("w")["versions"]["2"]["upstream"] == commit
    assert any("version 2 ready; retiring [1]" in line for line in said)

    resync = await triton_cli("--models", str(models), "--repository", str(repo), "--host", host(proxy), "sync")
    assert resync.code == 0, resync.err
    assert "w/2: watched: left to `watch` (newest version 2)" in resync.out
    assert Repository(repo).versions("w") == [1, 2]

    clock.now += 599
    await asyncio.to_thread(watcher.step)
    assert Repository(repo).versions("w") == [1, 2]  # still within the grace period
    clock.now += 2
    await asyncio.to_thread(watcher.step)
    assert Repository(repo).versions("w") == [2]
    assert emulator.core.ready_versions("w") == [2]
    assert "1" not in Repository(repo).state("w")["versions"]
    assert emulator.core.calls[-1] == ("load", "w")
    triton.close()


async def test_a_new_version_triton_refuses_is_removed_and_the_old_one_keeps_serving(
        hf_proxy: Callable[..., Awaitable[Proxy]], hub: FakeHub, emulator: Emulator, tmp_path: Path) -> None:
    repo_on_hub = hub.create("org/w")
    repo_on_hub.commit({"model.onnx": b"good weights"})
    proxy = await hf_proxy(hf_revision_ttl=0)
    (tmp_path / "config.pbtxt").write_bytes(CONFIG)
    models = tmp_path / "models.toml"
    models.write_text('[models.w]\nsource = "hf://org/w"\nconfig = "config.pbtxt"\nwatch = true\n')
    repo = emulator.core.repository
    args = ("--models", str(models), "--repository", str(repo), "--triton-url", emulator.http_url,
            "--host", host(proxy))
    assert (await triton_cli(*args, "sync", "--load")).code == 0
    repo_on_hub.commit({"model.onnx": b""})  # an empty model file: Triton cannot load it
    ran = await triton_cli(*args, "watch", "--once", "--admin-token", ADMIN_TOKEN, "--grace", "0")
    assert ran.code == 0, ran.err
    assert "w: watch check failed: load w: 400: load failed for model 'w': version 2 is at UNAVAILABLE" in ran.out
    assert Repository(repo).versions("w") == [1]
    assert emulator.core.ready_versions("w") == [1]
    refused = await triton_cli(*args, "watch", "--once")  # no admin token: the proxy refuses the prefetch
    assert "401" in refused.out
    assert Repository(repo).versions("w") == [1]


async def test_an_http_source_is_watched_by_its_etag(
        start_proxy: Callable[..., Awaitable[Proxy]], upstream: tuple[FakeUpstream, URL], emulator: Emulator,
        tmp_path: Path) -> None:
    fake, base = upstream
    fake.add("/m/model.onnx", b"version one", etag='"one"')
    proxy = await start_proxy(http_revalidate_after=0)
    (tmp_path / "config.pbtxt").write_bytes(CONFIG)
    models = tmp_path / "models.toml"
    models.write_text(f'[models.m]\nsource = "{base / "m" / "model.onnx"}"\nconfig = "config.pbtxt"\nwatch = true\n')
    repo = emulator.core.repository
    args = ("--models", str(models), "--repository", str(repo), "--triton-url", emulator.grpc_url,
            "--host", host(proxy))
    assert (await triton_cli(*args, "sync", "--load")).code == 0
    quiet = await triton_cli(*args, "watch", "--once", "--admin-token", ADMIN_TOKEN)
    assert quiet.code == 0, quiet.err
    assert Repository(repo).versions("m") == [1]  # same ETag: nothing to do
    fake.add("/m/model.onnx", b"version two!", etag='"two"')
    moved = await triton_cli(*args, "watch", "--once", "--admin-token", ADMIN_TOKEN, "--grace", "0")
    assert moved.code == 0, moved.err
    assert Repository(repo).versions("m") == [2]
    assert (repo / "m" / "2" / "model.onnx").read_bytes() == b"version two!"
    assert emulator.core.ready_versions("m") == [2]


async def test_a_private_repo_is_watched_with_the_token_given(
        hf_proxy: Callable[..., Awaitable[Proxy]], hub: FakeHub, emulator: Emulator, tmp_path: Path) -> None:
    private = hub.create("org/private", private=True)
    private.commit({"model.onnx": b"secret weights"})
    hub.tokens["hf_reader"] = {("model", "org/private")}
    proxy = await hf_proxy(hf_revision_ttl=0)
    (tmp_path / "config.pbtxt").write_bytes(CONFIG)
    models = tmp_path / "models.toml"
    models.write_text('[models.p]\nsource = "hf://org/private"\nconfig = "config.pbtxt"\nwatch = true\n')
    repo = emulator.core.repository
    args = ("--models", str(models), "--repository", str(repo), "--triton-url", emulator.grpc_url,
            "--host", host(proxy))
    denied = await triton_cli(*args, "watch", "--once", "--admin-token", ADMIN_TOKEN)
    assert "p: watch check failed: prefetch hf://org/private failed: hf://org/private: upstream answered 401" \
        in denied.out
    assert not (repo / "p").exists()
    ran = await triton_cli("--token", "hf_reader", *args, "watch", "--once", "--admin-token", ADMIN_TOKEN)
    assert ran.code == 0, ran.err
    assert (repo / "p" / "1" / "model.onnx").read_bytes() == b"secret weights"
    assert emulator.core.ready_versions("p") == [1]


async def test_an_s3_prefix_is_watched_by_its_listing(start_proxy: Callable[..., Awaitable[Proxy]], moto: MotoServer,
                                                      emulator: Emulator, tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    bucket = f"models-{uuid.uuid4().hex[:12]}"
    s3 = boto3.session.Session().client("s3", endpoint_url=moto.url, aws_access_key_id=ACCESS_KEY,
                                        aws_secret_access_key=SECRET_KEY, region_name="us-east-1")
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="m/model.onnx", Body=b"first")
    proxy = await start_proxy(s3_upstream_endpoint=moto.url, s3_upstream_access_key_id=ACCESS_KEY,
                              s3_upstream_secret_access_key=SECRET_KEY, s3_client_keys="team:s3cret",
                              s3_list_ttl=0, s3_revalidate_after=0)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "team")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "s3cret")
    (tmp_path / "config.pbtxt").write_bytes(CONFIG)
    models = tmp_path / "models.toml"
    models.write_text(f'[models.m]\nsource = "s3://{bucket}/m"\nconfig = "config.pbtxt"\nwatch = true\n')
    repo = emulator.core.repository
    args = ("--models", str(models), "--repository", str(repo), "--triton-url", emulator.grpc_url,
            "--host", host(proxy))
    first = await triton_cli(*args, "watch", "--once", "--admin-token", ADMIN_TOKEN)
    assert first.code == 0, first.err
    assert Repository(repo).versions("m") == [1]
    s3.put_object(Bucket=bucket, Key="m/model.onnx", Body=b"second, longer")
    moved = await triton_cli(*args, "watch", "--once", "--admin-token", ADMIN_TOKEN, "--grace", "0")
    assert moved.code == 0, moved.err
    assert Repository(repo).versions("m") == [2]
    assert (repo / "m" / "2" / "model.onnx").read_bytes() == b"second, longer"
    assert emulator.core.ready_versions("m") == [2]
