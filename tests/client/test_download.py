"""modelmanager_download / modelmanager_snapshot through a real proxy: byte-exact for HF, S3 and
HTTP; the HF cache layout they write is what huggingface_hub and transformers read offline."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import shutil
import sys
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path

import boto3
import pytest
from aiohttp import web
from huggingface_hub import hf_hub_download, snapshot_download
from yarl import URL

from modelmanager_client import AccessDenied, DownloadInfo, hfcache, modelmanager_download, modelmanager_snapshot
from tests.client.conftest import Dirs, blocking, host
from tests.conftest import Proxy, ServerFactory
from tests.fakes.fake_http import FakeUpstream
from tests.fakes.fake_hub import FakeHub
from tests.fakes.s3_servers import ACCESS_KEY, SECRET_KEY, MotoServer

MiB = 1 << 20


async def test_hf_file_is_byte_exact_in_the_hf_layout(hf_proxy: Callable[..., Awaitable[Proxy]], hub: FakeHub,
                                                     dirs: Dirs) -> None:
    proxy = await hf_proxy()
    weights, config = os.urandom(5 * MiB + 3), b'{"a": 1}'
    commit = hub.create("org/m").commit({"model.safetensors": weights, "config.json": config})
    info = DownloadInfo("org/m", "model.safetensors", host=host(proxy))
    path = Path(await blocking(modelmanager_download, info))
    assert path.read_bytes() == weights
    assert path == dirs.hf / "models--org--m" / "snapshots" / commit / "model.safetensors"
    assert path.is_symlink()
    sha256 = hub.repos[("model", "org/m")].commits[commit]["model.safetensors"].sha256
    assert path.resolve() == dirs.hf / "models--org--m" / "blobs" / sha256
    assert (dirs.hf / "models--org--m" / "refs" / "main").read_text() == commit
    found = await blocking(hf_hub_download, "org/m", "model.safetensors", local_files_only=True,
                           cache_dir=dirs.hf)  # huggingface_hub read HF_HOME at import
    assert Path(found) == path


async def test_hf_snapshot_is_accepted_by_huggingface_hub_offline(hf_proxy: Callable[..., Awaitable[Proxy]],
                                                                  hub: FakeHub, dirs: Dirs) -> None:
    proxy = await hf_proxy()
    files = {"config.json": b'{"x": 1}', "weights/a.safetensors": os.urandom(300_000),
             "weights/b.safetensors": os.urandom(70_000), "README.md": b"# m"}
    commit = hub.create("org/snap").commit(files)
    info = DownloadInfo("org/snap", host=host(proxy))
    folder = Path(await blocking(modelmanager_snapshot, info, ignore_patterns=["README.md"]))
    assert folder.name == commit
    assert {p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*") if p.is_file()} == {
        k: v for k, v in files.items() if k != "README.md"}
    offline = await blocking(snapshot_download, "org/snap", local_files_only=True, cache_dir=dirs.hf)
    assert Path(offline) == folder


async def test_transformers_reads_the_layout_offline(hf_proxy: Callable[..., Awaitable[Proxy]], hub: FakeHub,
                                                     dirs: Dirs) -> None:
    proxy = await hf_proxy()
    config = {"model_type": "gpt2", "n_layer": 3, "n_head": 2, "n_embd": 16, "vocab_size": 10}
    tokenizer: dict[str, object] = {
                 "version": "1.0", "truncation": None, "padding": None, "added_tokens": [], "normalizer": None,
                 "pre_tokenizer": {"type": "Whitespace"}, "post_processor": None, "decoder": None,
                 "model": {"type": "WordLevel", "vocab": {"<unk>": 0, "hello": 1, "world": 2}, "unk_token": "<unk>"}}
    hub.create("org/tiny").commit({"config.json": json.dumps(config).encode(),
                                   "tokenizer.json": json.dumps(tokenizer).encode(),
                                   "tokenizer_config.json": b'{"tokenizer_class": "PreTrainedTokenizerFast"}'})
    await blocking(modelmanager_snapshot, DownloadInfo("org/tiny", host=host(proxy)))
    script = ("from transformers import AutoConfig, AutoTokenizer\n"
              "c = AutoConfig.from_pretrained('org/tiny')\n"
              "t = AutoTokenizer.from_pretrained('org/tiny')\n"
              "print('RESULT', c.n_layer, t('hello world')['input_ids'])\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "HUGGING"))}
    env.update(HF_HOME=str(dirs.hf.parent), HF_HUB_OFFLINE="1", TRANSFORMERS_VERBOSITY="error",
               HF_ENDPOINT="http://127.0.0.1:9")  # unreachable: offline means offline
    proc = await asyncio.create_subprocess_exec(sys.executable, "-c", script, env=env,
                                                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    out, _ = await proc.communicate()
    assert proc.returncode == 0, out.decode()
    assert "RESULT 3 [1, 2]" in out.decode()


async def test_gated_file_with_a_refused_token_is_a_clear_error_and_writes_nothing(
        hf_proxy: Callable[..., Awaitable[Proxy]], hub: FakeHub, dirs: Dirs) -> None:
    proxy = await hf_proxy()
    hub.create("org/gated", gated=True).commit({"w.bin": os.urandom(4096)})
    hub.tokens["hf_other"] = set()  # a valid token without access to the repo
    info = DownloadInfo("org/gated", "w.bin", host=host(proxy), token="hf_other")
    with pytest.raises(AccessDenied, match="403 GatedRepo"):
        await blocking(modelmanager_download, info)
    assert not (dirs.hf / "models--org--gated").exists()
    assert not any(p.is_file() for p in (dirs.tier / "blobs").rglob("*"))


async def test_http_url_is_byte_exact(proxy: Proxy, upstream: tuple[FakeUpstream, URL], tmp_path: Path) -> None:
    fake, base = upstream
    body = os.urandom(3 * MiB + 5)
    fake.add("/files/w.bin", body)
    info = DownloadInfo(str(base / "files" / "w.bin"), provider="http", host=host(proxy))
    path = Path(await blocking(modelmanager_download, info, local_dir=tmp_path / "out"))
    assert path == tmp_path / "out" / "w.bin"
    assert path.read_bytes() == body
    assert fake.count("/files/w.bin") == 1


async def test_s3_key_and_prefix_are_byte_exact_with_sigv4(
        start_proxy: Callable[..., Awaitable[Proxy]], moto: MotoServer, tmp_path: Path, dirs: Dirs, cache_dir: Path,
        monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    bucket = f"models-{uuid.uuid4().hex[:12]}"
    s3 = boto3.session.Session().client("s3", endpoint_url=moto.url, aws_access_key_id=ACCESS_KEY,
                                        aws_secret_access_key=SECRET_KEY, region_name="us-east-1")
    s3.create_bucket(Bucket=bucket)
    objects = {"llama/model.safetensors": os.urandom(2 * MiB + 1), "llama/sub/tokenizer.json": b"{}",
               "other/x.bin": b"not this"}
    for key, body in objects.items():
        s3.put_object(Bucket=bucket, Key=key, Body=body)
    proxy = await start_proxy(s3_upstream_endpoint=moto.url, s3_upstream_access_key_id=ACCESS_KEY,
                              s3_upstream_secret_access_key=SECRET_KEY, s3_client_keys="team:s3cret")
    info = DownloadInfo(f"{bucket}/llama", "model.safetensors", provider="S3", host=host(proxy), token="team:s3cret")
    one = Path(await blocking(modelmanager_download, info))
    assert one.read_bytes() == objects["llama/model.safetensors"]
    folder = Path(await blocking(modelmanager_snapshot, DownloadInfo(f"{bucket}/llama", provider="s3", host=host(proxy),
                                                                     token="team:s3cret"), local_dir=tmp_path / "l"))
    assert {p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*") if p.is_file()} == {
        "model.safetensors": objects["llama/model.safetensors"], "sub/tokenizer.json": b"{}"}
    shutil.rmtree(dirs.tier)  # a fresh node that mounts the proxy's volume: path hand-off
    monkeypatch.setenv("MODELMANAGER_CACHE_MOUNT", str(cache_dir))
    with caplog.at_level(logging.INFO, logger="modelmanager_client.transport"):
        again = Path(await blocking(modelmanager_download, info, local_dir=tmp_path / "again"))
    assert again.read_bytes() == objects["llama/model.safetensors"]
    assert "handoff (blob at" in caplog.text
    wrong = DownloadInfo(f"{bucket}/llama", "model.safetensors", provider="S3", host=host(proxy), token="team:nope")
    with pytest.raises(AccessDenied):
        await blocking(modelmanager_download, wrong, force=True)


async def test_redirects_are_followed_like_a_peer_hop(proxy: Proxy, upstream: tuple[FakeUpstream, URL],
                                                      aiohttp_server: ServerFactory, tmp_path: Path) -> None:
    fake, base = upstream
    body = os.urandom(MiB + 7)
    fake.add("/r.bin", body)

    async def hop(request: web.Request) -> web.Response:
        return web.Response(status=307, headers={"Location": str(proxy.server.make_url(request.path_qs))})

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", hop)
    pod = await aiohttp_server(app)
    info = DownloadInfo(str(base / "r.bin"), provider="HTTP", host=str(pod.make_url("")).rstrip("/"))
    path = Path(await blocking(modelmanager_download, info, local_dir=tmp_path))
    assert path.read_bytes() == body


def test_hf_layout_refuses_names_that_leave_the_cache(tmp_path: Path) -> None:
    blob = tmp_path / "b"
    blob.write_bytes(b"x")
    for commit, path, etag in (("..", "a", "e"), ("c", "../../../x", "e"), ("c", "a", "../e"), ("c/d", "a", "e")):
        with pytest.raises(ValueError, match="refusing"):
            hfcache.place(tmp_path / "hub", "model", "org/m", commit, path, etag, blob)
    assert not (tmp_path / "x").exists()


async def test_hf_snapshot_follows_the_tree_listing_pages(hf_proxy: Callable[..., Awaitable[Proxy]], hub: FakeHub,
                                                          tmp_path: Path) -> None:
    proxy = await hf_proxy()
    hub.page_size = 2
    files = {f"d{i % 2}/f{i}.json": f'{{"i": {i}}}'.encode() for i in range(7)}
    hub.create("org/paged").commit(files)
    folder = Path(await blocking(modelmanager_snapshot, DownloadInfo("org/paged", host=host(proxy)),
                                 local_dir=tmp_path / "paged"))
    assert {p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*") if p.is_file()} == files
    assert hub.count("GET", "/tree/") == 5  # 7 files and 2 folders: 5 pages of 2
