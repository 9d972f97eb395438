"""Pods whose views of the shared volume cache attributes for seconds (two ``bindfs`` FUSE
mounts of one directory with ``attr_timeout=10,entry_timeout=10``, as NFS, EFS and FUSE-based CSI
drivers behave): a follower pod's client still streams while the fill runs, because the follower
takes the bytes from the leader's pod over the internal fill endpoint, not through its mount.
Also: that endpoint answers only callers with the cluster secret, and only for a fill led there.

Skips, saying why, where bindfs or FUSE is not available (``apt-get install bindfs``).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import os
import shutil
import signal
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import aiohttp
import blake3
import pytest
from yarl import URL

from proxy.credentials import CLUSTER_SECRET, read_secret
from tests.cluster.conftest import Pod, RedisServer
from tests.fakes.fake_http import FakeUpstream

SIZE = 48 << 20
RATE = 8 << 20  # a 6-second download
CACHING = "attr_timeout=10,entry_timeout=10"


def _mount(source: Path, target: Path) -> None:
    target.mkdir(parents=True)
    done = subprocess.run(["bindfs", "-o", CACHING, str(source), str(target)], capture_output=True, text=True,
                          timeout=10, check=False)
    if done.returncode != 0:
        pytest.skip(f"bindfs could not mount (FUSE unavailable here?): {done.stderr.strip()}")


@pytest.fixture
def views(tmp_path: Path) -> Iterator[list[Path]]:
    """Two attribute-caching FUSE views of one directory: each pod's mount of the shared volume."""
    if shutil.which("bindfs") is None:
        pytest.skip("bindfs is not installed (apt-get install bindfs): no attribute-caching mount to test on")
    if not os.path.exists("/dev/fuse"):
        pytest.skip("no /dev/fuse: FUSE mounts are not possible here")
    shared = tmp_path / "volume"
    shared.mkdir()
    mounted: list[Path] = []
    try:
        for name in ("view-a", "view-b"):
            _mount(shared, tmp_path / name)
            mounted.append(tmp_path / name)
        yield mounted
    finally:
        for path in mounted:
            subprocess.run(["fusermount", "-u", "-z", str(path)], capture_output=True, check=False)


@pytest.fixture
async def pods(views: list[Path], redis_server: RedisServer,
               upstream: tuple[FakeUpstream, URL]) -> AsyncIterator[list[Pod]]:
    _, base = upstream
    relay_dir = views[1].parent / "local-disk"  # the follower keeps relayed bytes on a node-local disk
    relay_dir.mkdir()
    (relay_dir / "relay-pod-1-leftover").write_bytes(b"from a crash")  # swept at start
    (relay_dir / "relay-pod-9-other").write_bytes(b"another node's")  # kept
    one_stream = ("--fill-connections", "1")  # one upstream GET to count (segmented fills: tests/proxy/fill)
    started = [Pod(f"pod-{i}", view, redis_server.url, f"{base.host}:{base.port}",
                   (*one_stream, "--relay-dir", str(relay_dir)) if i == 1 else one_stream)
               for i, view in enumerate(views)]
    try:
        await asyncio.gather(*(p.start() for p in started))
        yield started
    finally:
        for pod in started:
            if pod.proc is not None and pod.proc.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    pod.proc.send_signal(signal.SIGKILL)
                await pod.proc.wait()


async def timed_download(response: aiohttp.ClientResponse) -> tuple[str, list[float]]:
    """blake3 of the body, and when each piece of it arrived (monotonic)."""
    hasher, arrivals = blake3.blake3(), []
    async for chunk in response.content.iter_any():
        arrivals.append(time.monotonic())
        hasher.update(chunk)
    return hasher.hexdigest(), arrivals


async def test_follower_pod_streams_while_its_mount_caches_attributes(
        pods: list[Pod], upstream: tuple[FakeUpstream, URL], session: aiohttp.ClientSession) -> None:
    fake, base = upstream
    body = os.urandom(SIZE)
    want = blake3.blake3(body).hexdigest()
    fake.add("/big.bin", body, chunk=256 << 10, rate=RATE)
    leader, follower = pods

    async with session.get(leader.fetch_url(base / "big.bin")) as lead_response:
        assert lead_response.status == 200
        leading = asyncio.create_task(timed_download(lead_response))
        async with session.get(follower.fetch_url(base / "big.bin")) as follow_response:
            assert follow_response.status == 200
            followed_digest, followed = await timed_download(follow_response)
        lead_digest, led = await leading

    assert (lead_digest, followed_digest) == (want, want)
    assert fake.count("/big.bin") == 1
    assert followed[0] - led[0] < 1.0, f"the follower's first byte came {followed[0] - led[0]:.2f} s after the leader's"
    gaps = [b - a for a, b in itertools.pairwise(followed)]
    assert max(gaps) < 1.0, f"the follower's client waited {max(gaps):.2f} s for bytes"
    assert led[-1] - led[0] > 3.0, "the download was paced: the follower streamed while the fill ran"
    # the bytes came from the leader's pod (the relay stops at the commit: the last ones may come from the blob)
    assert await follower.metric(session, "modelmanager_relayed_bytes_total", 'direction="received"') > SIZE // 2
    assert await leader.metric(session, "modelmanager_relayed_bytes_total", 'direction="sent"') > SIZE // 2
    assert [p.name for p in (follower.cache.parent / "local-disk").iterdir()] == ["relay-pod-9-other"], \
        "the follower's relay file is gone once the fill ended, and so is its leftover from a crash"


async def running_fill(redis_server: RedisServer) -> tuple[str, int]:
    """The key id and lease token of the one fill record in Redis (what a follower reads)."""
    import redis.asyncio as aioredis

    client = aioredis.Redis.from_url(redis_server.url, decode_responses=True)
    try:
        names = [str(name) for name in await client.keys("mm:fill:*")]
        assert len(names) == 1, names
        text = await client.get(names[0])
        assert text is not None
        record = json.loads(text)
    finally:
        await client.aclose()
    return names[0].removeprefix("mm:fill:"), int(record["token"])


async def test_internal_fill_endpoint_needs_the_secret_and_a_fill_led_there(
        pods: list[Pod], redis_server: RedisServer, upstream: tuple[FakeUpstream, URL],
        session: aiohttp.ClientSession) -> None:
    fake, base = upstream
    body = os.urandom(8 << 20)
    fake.add("/slow.bin", body, chunk=256 << 10, rate=2 << 20)
    leader, follower = pods
    secret = read_secret(leader.cache, CLUSTER_SECRET)
    assert secret is not None
    good = {"Authorization": f"Bearer {secret}"}

    async with session.get(leader.fetch_url(base / "slow.bin")) as r:
        assert r.status == 200
        head = await r.content.readexactly(1 << 16)  # the fill runs on the leader now
        kid, token = await running_fill(redis_server)
        feed = leader.url.with_path(f"/_mm/v1/fills/{kid}")
        at_start = feed.with_query(token=str(token), offset="0")
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": secret}):
            async with session.get(at_start, headers=headers) as refused:
                assert refused.status == 401
                assert head not in await refused.read()
        async with session.get(feed.with_query(token=str(token + 1), offset="0"), headers=good) as other:
            assert other.status == 404, "a token that does not lead the fill here is refused"
        async with session.get(follower.url.with_path(feed.path).with_query(token=str(token), offset="0"),
                               headers=good) as elsewhere:
            assert elsewhere.status == 404, "a pod that does not lead the fill refuses it"
        async with session.get(feed.with_query(token=str(token), offset=str(len(body) - 10)),
                               headers=good) as end:
            assert end.status == 200
            assert await end.read() == body[-10:], "the landed bytes, streamed as they land"
        assert head + await r.read() == body
    async with session.get(at_start, headers=good) as finished:
        assert finished.status == 404, "a finished fill is no longer served"


async def test_leader_killed_mid_stream_the_follower_takes_over_on_its_caching_mount(
        pods: list[Pod], upstream: tuple[FakeUpstream, URL], session: aiohttp.ClientSession) -> None:
    fake, base = upstream
    body = os.urandom(24 << 20)
    want = blake3.blake3(body).hexdigest()
    fake.add("/big.bin", body, chunk=256 << 10, rate=RATE)
    leader, follower = pods

    lead_response = await session.get(leader.fetch_url(base / "big.bin"))
    assert lead_response.status == 200
    async with session.get(follower.fetch_url(base / "big.bin")) as r:
        assert r.status == 200
        hasher = blake3.blake3()
        hasher.update(head := await r.content.readexactly(4 << 20))  # streamed from the leader's pod
        assert await follower.metric(session, "modelmanager_relayed_bytes_total", 'direction="received"') >= len(head)
        relay_files = [p for p in (follower.cache.parent / "local-disk").iterdir() if p.name.startswith("relay-pod-1-")]
        assert len(relay_files) == 1, "the relayed bytes are kept in --relay-dir"
        assert relay_files[0].stat().st_size >= len(head)
        await leader.signal(signal.SIGKILL)
        async for chunk in r.content.iter_any():
            hasher.update(chunk)
    lead_response.close()
    assert hasher.hexdigest() == want
    gets = fake.gets("/big.bin")
    assert len(gets) == 2, "the original download and the successor's resume"
    assert 0 < int(gets[1].headers["Range"].removeprefix("bytes=").rstrip("-")) < len(body)
    assert await follower.metric(session, "modelmanager_leases_taken_over_total") == 1


async def test_unreachable_leader_pod_falls_back_to_tailing_the_shared_file(
        views: list[Path], redis_server: RedisServer, upstream: tuple[FakeUpstream, URL],
        session: aiohttp.ClientSession) -> None:
    fake, base = upstream
    body = os.urandom(16 << 20)
    fake.add("/big.bin", body, chunk=256 << 10, rate=RATE)
    host = f"{base.host}:{base.port}"
    # the leader advertises an address nobody answers on: followers cannot stream from it
    leader = Pod("pod-0", views[0], redis_server.url, host, ("--advertise-url", "http://127.0.0.1:9"))
    follower = Pod("pod-1", views[1], redis_server.url, host, ())
    try:
        await asyncio.gather(leader.start(), follower.start())
        async with session.get(leader.fetch_url(base / "big.bin")) as lead_response:
            assert lead_response.status == 200
            await lead_response.content.readexactly(1 << 16)
            async with session.get(follower.fetch_url(base / "big.bin")) as r:
                assert r.status == 200
                assert await r.read() == body
        assert fake.count("/big.bin") == 1
        assert await follower.metric(session, "modelmanager_cross_pod_followers_total") == 1
        assert await follower.metric(session, "modelmanager_relayed_bytes_total", 'direction="received"') == 0
        assert follower.output is not None
        assert any("tailing the shared volume" in line for line in follower.output.lines)
    finally:
        for pod in (leader, follower):
            if pod.proc is not None and pod.proc.returncode is None:
                pod.proc.send_signal(signal.SIGKILL)
                await pod.proc.wait()
