"""The leader dies (SIGKILL) or shuts down (SIGTERM) mid-fill: a follower adopts the partial temp
file on the shared volume and resumes with a Range request; the clients on the surviving pods
complete byte-exact, and only the correct blob is ever committed. A segmented fill is taken over
the same way: the successor keeps the prefix and the segments landed beyond it, and fetches only
the holes."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import time

import aiohttp
import blake3
import pytest
import redis.asyncio as aioredis
from yarl import URL

from proxy.cluster.port import FillRecord
from proxy.digest import Digest
from proxy.storage.layout import Layout
from tests.cluster.conftest import Pod, PodFactory, RedisServer
from tests.fakes.fake_http import FakeUpstream

SIZE = 32 << 20


async def read_all(response: aiohttp.ClientResponse, hasher: blake3.blake3) -> int:
    got = 0
    async for chunk in response.content.iter_chunked(1 << 20):
        hasher.update(chunk)
        got += len(chunk)
    return got


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM], ids=["sigkill", "sigterm"])
async def test_leader_loss_mid_fill_is_taken_over_with_a_range_request(
        start_pods: PodFactory, upstream: tuple[FakeUpstream, URL], session: aiohttp.ClientSession,
        tmp_path: object, sig: int) -> None:
    fake, base = upstream
    body = os.urandom(SIZE)
    want = blake3.blake3(body).hexdigest()
    fake.add("/big.bin", body, chunk=1 << 20, rate=8 << 20)  # a 4-second download
    leader, *survivors = await start_pods(3, extra=("--fill-connections", "1"))  # one stream

    leader_response = await session.get(leader.fetch_url(base / "big.bin"))  # this pod leads the fill
    assert leader_response.status == 200
    responses = []
    for pod in survivors:
        for _ in range(3):
            r = await session.get(pod.fetch_url(base / "big.bin"))
            assert r.status == 200
            responses.append(r)
    hashers = [blake3.blake3() for _ in responses]
    # every surviving client has bytes of the leader's fill before the leader goes
    for r, h in zip(responses, hashers, strict=True):
        h.update(await r.content.readexactly(1 << 16))
    assert fake.count("/big.bin") == 1

    code = await leader.signal(sig)
    if sig == signal.SIGTERM:
        assert code == 0, "a graceful shutdown exits cleanly after handing the fill over"
    got = await asyncio.gather(*(read_all(r, h) for r, h in zip(responses, hashers, strict=True)))
    assert got == [SIZE - (1 << 16)] * len(responses)
    assert [h.hexdigest() for h in hashers] == [want] * len(responses)
    leader_response.close()

    gets = fake.gets("/big.bin")
    assert len(gets) == 2, "the original download and one resume"
    assert "Range" not in gets[0].headers
    resumed_at = int(gets[1].headers["Range"].removeprefix("bytes=").rstrip("-"))
    assert 0 < resumed_at < SIZE, "the successor continued from the bytes on the shared volume"
    assert gets[1].headers.get("If-Range") == '"v1"'

    takeovers = [await p.metric(session, "modelmanager_leases_taken_over_total") for p in survivors]
    assert sorted(takeovers) == [0, 1]
    layout = Layout(tmp_path / "cache")  # type: ignore[operator]
    blobs = sorted(p.name for p in layout.blobs.glob("*/*"))
    assert blobs == [Digest(want).hex], "only the whole, verified blob was committed"
    # a new client on a surviving pod is a plain hit
    async with session.get(survivors[0].fetch_url(base / "big.bin")) as r:
        assert r.headers["X-Cache"] == "hit"
        assert blake3.blake3(await r.read()).hexdigest() == want
    assert len(fake.gets("/big.bin")) == 2


async def landed_beyond_prefix(redis_server: RedisServer) -> tuple[tuple[int, int], ...]:
    """The segments the leader's stored fill record says landed beyond its prefix, once there are some."""
    client = aioredis.Redis.from_url(redis_server.url, decode_responses=True)
    try:
        async with asyncio.timeout(20):
            while True:
                for name in await client.keys("mm:fill:*"):
                    raw = await client.get(name)
                    record = FillRecord.from_json(json.loads(raw)) if raw else None
                    if record is not None and record.landed:
                        return record.landed
                await asyncio.sleep(0.05)  # the record is renewed every 0.375 s (TTL 1.5 s)
    finally:
        await client.aclose()


async def test_a_segmented_fill_is_taken_over_segment_by_segment(
        start_pods: PodFactory, upstream: tuple[FakeUpstream, URL], session: aiohttp.ClientSession,
        tmp_path: object, redis_server: RedisServer) -> None:
    fake, base = upstream
    size = 48 << 20  # three segments of 16 MiB; still more than two left after the takeover
    body = os.urandom(size)
    want = blake3.blake3(body).hexdigest()
    fake.add("/big.bin", body, chunk=1 << 18, rate=4 << 20)  # 4 MiB/s per connection: segments take a while
    leader, *survivors = await start_pods(3, extra=("--fill-connections", "4"))
    leader_response = await session.get(leader.fetch_url(base / "big.bin"))
    assert leader_response.status == 200
    responses = [await session.get(pod.fetch_url(base / "big.bin")) for pod in survivors]
    hashers = [blake3.blake3() for _ in responses]
    for r, h in zip(responses, hashers, strict=True):  # the stored fill record is renewed meanwhile
        h.update(await r.content.readexactly(8 << 20))
    recorded = await landed_beyond_prefix(redis_server)
    before = len(fake.gets("/big.bin"))
    assert before >= 3, "the leader fetches in segments"
    await leader.signal(signal.SIGKILL)
    got = await asyncio.gather(*(read_all(r, h) for r, h in zip(responses, hashers, strict=True)))
    assert got == [size - (8 << 20)] * len(responses)
    assert [h.hexdigest() for h in hashers] == [want] * len(responses)
    leader_response.close()
    successor = fake.gets("/big.bin")[before:]
    asked = sorted((int(a), int(b) + 1 if b else size) for a, _, b in
                   (g.headers["Range"].removeprefix("bytes=").partition("-") for g in successor))
    assert len(asked) >= 2, "the successor fetched the missing part in segments"
    assert asked[0][0] > 0, "the successor kept the prefix on the shared volume"
    assert asked[-1][1] == size
    # the holes between the asked ranges are what the leader had landed: the bodies above are byte-exact
    assert all(g.headers.get("If-Range") == '"v1"' for g in successor)
    assert not [(a, b, x, y) for a, b in asked for x, y in recorded if a < y and x < b], \
        "the segments the leader had recorded as landed are kept, not fetched again"
    blobs = sorted(p.name for p in Layout(tmp_path / "cache").blobs.glob("*/*"))  # type: ignore[operator]
    assert blobs == [Digest(want).hex], "only the whole, verified blob was committed"


async def test_a_killed_pods_temp_file_that_nobody_takes_up_is_swept_by_another_pod(
        start_pods: PodFactory, upstream: tuple[FakeUpstream, URL], session: aiohttp.ClientSession,
        tmp_path: object) -> None:
    fake, base = upstream
    fake.add("/big.bin", os.urandom(SIZE), chunk=1 << 20, rate=8 << 20)
    doomed, survivor = await start_pods(2, extra=("--fill-connections", "1", "--abandoned-tmp-age", "3600"))
    response = await session.get(doomed.fetch_url(base / "big.bin"))
    await response.content.readexactly(1 << 16)
    await doomed.signal(signal.SIGKILL)
    response.close()
    layout = Layout(tmp_path / "cache")  # type: ignore[operator]
    left = list(layout.tmp(doomed.name).glob("fill-*"))
    assert len(left) == 1, "no client asked again: nobody took the fill up"
    size = left[0].stat().st_size
    assert size >= 1 << 16
    report = await call_evict(session, survivor)
    assert report["abandoned_files"] == 0, "a file written seconds ago may still be taken up"
    an_hour_ago = time.time() - 3601
    os.utime(left[0], (an_hour_ago, an_hour_ago))
    report = await call_evict(session, survivor)
    assert (report["abandoned_files"], report["abandoned_bytes"]) == (1, size)
    assert not left[0].exists()
    assert layout.tmp(doomed.name).is_dir()


async def call_evict(session: aiohttp.ClientSession, pod: Pod) -> dict[str, int]:
    async with session.post(pod.url / "v1" / "evict", headers=pod.admin) as r:
        assert r.status == 200, await r.text()
        report: dict[str, int] = await r.json()
        return report
