"""Unmodified huggingface_hub calls through the proxy (HF endpoint = proxy), against the emulator.

The client is synchronous; it runs in a thread so the proxy and the emulator (same event loop)
keep serving.
"""

from __future__ import annotations

import asyncio
import functools
import os
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import httpx2
import huggingface_hub as hfh
import pytest
from huggingface_hub import errors as hf_errors

from proxy import appkeys
from tests.conftest import Proxy
from tests.fakes.fake_hub import FakeHub

ProxyFactory = Callable[..., Awaitable[Proxy]]
MiB = 1 << 20
T = TypeVar("T")

# The client is synchronous: it runs on threads of its own, never on the default executor, which
# the proxy under test uses for its disk I/O.
_CLIENT_THREADS = ThreadPoolExecutor(max_workers=32, thread_name_prefix="hf-client")


async def in_thread(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    return await asyncio.get_running_loop().run_in_executor(_CLIENT_THREADS, functools.partial(fn, *args, **kwargs))


def endpoint(proxy: Proxy) -> str:
    return str(proxy.server.make_url("")).rstrip("/")


async def download(proxy: Proxy, cache: Path, repo_id: str, filename: str, **kwargs: Any) -> bytes:
    kwargs.setdefault("token", False)
    path = await in_thread(hfh.hf_hub_download, repo_id, filename, endpoint=endpoint(proxy),
                                   cache_dir=cache, **kwargs)
    return Path(path).read_bytes()


async def test_regular_and_lfs_files_then_warm_for_a_new_client(
        hf_proxy: ProxyFactory, hub: FakeHub, tmp_path: Path) -> None:
    proxy = await hf_proxy()
    repo = hub.create("org/model")
    big = os.urandom(3 * MiB)
    repo.commit({"config.json": b'{"a": 1}', "model.safetensors": big})
    assert await download(proxy, tmp_path / "c1", "org/model", "config.json") == b'{"a": 1}'
    assert await download(proxy, tmp_path / "c1", "org/model", "model.safetensors") == big
    gets_before = hub.count("GET", "/resolve/")
    cdn_before = len(hub.cdn_requests)
    assert await download(proxy, tmp_path / "c2", "org/model", "model.safetensors") == big
    assert await download(proxy, tmp_path / "c2", "org/model", "config.json") == b'{"a": 1}'
    assert hub.count("GET", "/resolve/") == gets_before, "no upstream file fetch for a warm client"
    assert len(hub.cdn_requests) == cdn_before


async def test_snapshot_download_cold_then_zero_upstream_fetches(
        hf_proxy: ProxyFactory, hub: FakeHub, tmp_path: Path) -> None:
    proxy = await hf_proxy()
    repo = hub.create("org/snap")
    files = {f"dir{i % 3}/file{i}.bin": os.urandom(500 + i * 300) for i in range(20)}
    repo.commit(files)
    out = Path(await in_thread(hfh.snapshot_download, "org/snap", endpoint=endpoint(proxy),
                                       cache_dir=tmp_path / "a", token=False))
    for name, data in files.items():
        assert (out / name).read_bytes() == data
    lfs = sum(1 for f in repo.commits[repo.refs["main"]].values() if f.lfs)
    assert hub.count("GET", "/resolve/") == 20, "each file fetched once (LFS ones via their redirect)"
    assert len(hub.cdn_requests) == lfs
    fetched = hub.count("GET", "/resolve/") + len(hub.cdn_requests)
    out2 = Path(await in_thread(hfh.snapshot_download, "org/snap", endpoint=endpoint(proxy),
                                        cache_dir=tmp_path / "b", token=False))
    assert all((out2 / n).read_bytes() == d for n, d in files.items())
    assert hub.count("GET", "/resolve/") + len(hub.cdn_requests) == fetched, "second client: zero file fetches"


async def test_sixteen_concurrent_downloads_fetch_once(hf_proxy: ProxyFactory, hub: FakeHub, tmp_path: Path) -> None:
    proxy = await hf_proxy()
    repo = hub.create("org/herd")
    big = os.urandom(8 * MiB)
    repo.commit({"weights.bin": big})
    results = await asyncio.gather(*(download(proxy, tmp_path / f"c{i}", "org/herd", "weights.bin")
                                     for i in range(16)))
    assert all(r == big for r in results)
    sha = repo.commits[repo.refs["main"]]["weights.bin"].sha256
    assert hub.cdn_gets(sha) == 1
    assert hub.count("HEAD", "org/herd/resolve/main/weights.bin") == 1, "metadata lookups coalesce too"


async def test_revisions(hf_proxy: ProxyFactory, hub: FakeHub, tmp_path: Path) -> None:
    proxy = await hf_proxy()
    repo = hub.create("org/revs")
    first = repo.commit({"f.txt": b"one"})
    repo.refs["v1.0"] = first
    second = repo.commit({"f.txt": b"two"})
    repo.refs["refs/pr/1"] = repo.commit({"f.txt": b"pr"}, branch="pr-branch")
    cases = {"main": b"two", "v1.0": b"one", first: b"one", second[:7]: b"two", "refs/pr/1": b"pr"}
    for i, (revision, expected) in enumerate(cases.items()):
        assert await download(proxy, tmp_path / f"c{i}", "org/revs", "f.txt", revision=revision) == expected


async def test_branch_move_is_seen_after_the_ttl(hf_proxy: ProxyFactory, hub: FakeHub, tmp_path: Path) -> None:
    slow = await hf_proxy(hf_revision_ttl=3600)
    fast = await hf_proxy(hf_revision_ttl=0)
    repo = hub.create("org/moving")
    repo.commit({"f.txt": b"old"})
    assert await download(slow, tmp_path / "s1", "org/moving", "f.txt") == b"old"
    assert await download(fast, tmp_path / "f1", "org/moving", "f.txt") == b"old"
    repo.commit({"f.txt": b"new"})
    assert await download(slow, tmp_path / "s2", "org/moving", "f.txt") == b"old", "within the TTL"
    assert await download(fast, tmp_path / "f2", "org/moving", "f.txt") == b"new", "after the TTL"


@pytest.mark.parametrize(("repo_id", "revision", "filename", "error"), [
    ("org/nothing", "main", "f.txt", hf_errors.RepositoryNotFoundError),
    ("org/errs", "no-such-branch", "f.txt", hf_errors.RevisionNotFoundError),
    ("org/errs", "main", "missing.txt", hf_errors.RemoteEntryNotFoundError),
])
async def test_errors_raise_what_the_hub_raises(hf_proxy: ProxyFactory, hub: FakeHub, tmp_path: Path,
                                                repo_id: str, revision: str, filename: str,
                                                error: type[Exception]) -> None:
    proxy = await hf_proxy()
    hub.create("org/errs").commit({"f.txt": b"x"})
    for base in (str(hub.hub_url).rstrip("/"), endpoint(proxy)):
        with pytest.raises(error):
            await in_thread(hfh.hf_hub_download, repo_id, filename, revision=revision, endpoint=base,
                                    cache_dir=tmp_path / "c", token=False)


async def test_gated_and_private_files_are_served_only_to_accepted_tokens(
        hf_proxy: ProxyFactory, hub: FakeHub, tmp_path: Path) -> None:
    proxy = await hf_proxy()
    gated = hub.create("org/gated", gated=True)
    gated.commit({"w.bin": os.urandom(5000)})
    private = hub.create("org/private", private=True)
    private.commit({"w.bin": os.urandom(5000)})
    hub.tokens["hf_good"] = {("model", "org/gated"), ("model", "org/private")}
    hub.tokens["hf_other"] = set()
    for repo_id in ("org/gated", "org/private"):
        data = await download(proxy, tmp_path / "good", repo_id, "w.bin", token="hf_good")
        assert len(data) == 5000  # now cached
        cdn = len(hub.cdn_requests)
        with pytest.raises(hf_errors.GatedRepoError if repo_id == "org/gated" else hf_errors.RepositoryNotFoundError):
            await download(proxy, tmp_path / "anon", repo_id, "w.bin")
        with pytest.raises(hf_errors.GatedRepoError if repo_id == "org/gated" else hf_errors.RepositoryNotFoundError):
            await download(proxy, tmp_path / "other", repo_id, "w.bin", token="hf_other")
        assert await download(proxy, tmp_path / "good2", repo_id, "w.bin", token="hf_good") == data
        assert len(hub.cdn_requests) == cdn, "served from the cache once the token was accepted"


async def test_large_api_answers_pass_whole(hf_proxy: ProxyFactory, hub: FakeHub) -> None:
    """A repo of thousands of files: its info (every sibling) and each tree page are JSON answers
    of hundreds of KiB, which reach the proxy in many reads; clients get them whole."""
    proxy = await hf_proxy()
    files = {f"shards/{'layer-' * 12}{i:05d}.safetensors": b"%d" % i for i in range(3000)}
    sha = hub.create("org/many").commit(files)
    api = hfh.HfApi(endpoint=endpoint(proxy), token=False)
    info = await in_thread(api.model_info, "org/many", files_metadata=True)
    assert info.sha == sha
    assert info.siblings is not None
    assert sorted(s.rfilename for s in info.siblings) == sorted(files)
    listed = await in_thread(api.list_repo_files, "org/many")
    assert sorted(listed) == sorted(files), "3 pages of 1000 entries"


async def test_api_calls(hf_proxy: ProxyFactory, hub: FakeHub, tmp_path: Path) -> None:
    proxy = await hf_proxy()
    hub.page_size = 7
    repo = hub.create("org/api")
    files = {f"sub/dir/f{i}.txt": f"{i}".encode() for i in range(20)}
    files["big.bin"] = os.urandom(4096)
    sha = repo.commit(files)
    hub.create("org/data", repo_type="dataset").commit({"train.csv": b"a,b\n1,2\n"})
    api = hfh.HfApi(endpoint=endpoint(proxy), token=False)
    info = await in_thread(api.model_info, "org/api")
    assert (info.id, info.sha) == ("org/api", sha)
    assert (await in_thread(api.model_info, "org/api", revision="main")).sha == sha
    assert (await in_thread(api.dataset_info, "org/data")).id == "org/data"
    assert (await in_thread(api.repo_info, "org/data", repo_type="dataset")).id == "org/data"
    listed = await in_thread(api.list_repo_files, "org/api")
    assert sorted(listed) == sorted(files), "21 files over 3+ pages of 7"
    tree = await in_thread(lambda: list(api.list_repo_tree("org/api", path_in_repo="sub/dir")))
    assert len(tree) == 20
    infos = await in_thread(api.get_paths_info, "org/api", ["big.bin", "nope.txt", "sub"])
    assert sorted(i.path for i in infos) == ["big.bin", "sub"]
    assert await in_thread(api.file_exists, "org/api", "big.bin")
    assert not await in_thread(api.file_exists, "org/api", "nope.bin")
    data = await in_thread(hfh.hf_hub_download, "org/data", "train.csv", repo_type="dataset",
                                   endpoint=endpoint(proxy), cache_dir=tmp_path, token=False)
    assert Path(data).read_bytes() == b"a,b\n1,2\n"


async def test_xet_hints_never_reach_the_client(hf_proxy: ProxyFactory, hub: FakeHub, tmp_path: Path) -> None:
    proxy = await hf_proxy()
    repo = hub.create("org/xet", xet=True)
    big = os.urandom(2 * MiB)
    repo.commit({"model.bin": big})
    async with proxy.session.head(proxy.server.make_url("/org/xet/resolve/main/model.bin")) as r:
        assert r.status == 200
        assert not [h for h in r.headers if h.lower().startswith("x-xet")]
        assert "xet" not in r.headers.get("Link", "")
    async with proxy.session.get(proxy.server.make_url("/api/models/org/xet/tree/main")) as r:
        assert "xetHash" not in await r.text()
    out = Path(await in_thread(hfh.snapshot_download, "org/xet", endpoint=endpoint(proxy),
                                       cache_dir=tmp_path, token=False))
    assert (out / "model.bin").read_bytes() == big
    assert hub.count("GET", "xet-read-token") == 0


async def test_corrupt_lfs_bytes_are_never_cached(hf_proxy: ProxyFactory, hub: FakeHub, tmp_path: Path) -> None:
    proxy = await hf_proxy()
    repo = hub.create("org/liar")
    repo.commit({"w.bin": os.urandom(MiB)})
    hub_file = repo.commits[repo.refs["main"]]["w.bin"]
    hub_file.corrupt = True
    with pytest.raises(httpx2.RemoteProtocolError):  # a cut connection, never a clean wrong body
        await download(proxy, tmp_path / "a", "org/liar", "w.bin")
    assert list(proxy.app[appkeys.CACHE].index.entries()) == []
    hub_file.corrupt = False
    assert await download(proxy, tmp_path / "b", "org/liar", "w.bin") == hub_file.content


async def test_hub_down_serves_last_known_commit(hf_proxy: ProxyFactory, hub: FakeHub, tmp_path: Path) -> None:
    proxy = await hf_proxy(hf_revision_ttl=0, hf_access_ttl=0)
    repo = hub.create("org/offline")
    repo.commit({"f.txt": b"cached", "g.txt": b"not cached"})
    assert await download(proxy, tmp_path / "a", "org/offline", "f.txt") == b"cached"
    hub.down = True
    assert await download(proxy, tmp_path / "b", "org/offline", "f.txt") == b"cached"
    async with proxy.session.head(proxy.server.make_url("/org/offline/resolve/main/f.txt")) as r:
        assert r.status == 200
        assert "Hub unreachable" in r.headers["Warning"]
    # a file the cache never saw cannot be served; a 502 (before any byte) lets the client retry later
    async with proxy.session.head(proxy.server.make_url("/org/offline/resolve/main/g.txt")) as r:
        assert r.status == 502
