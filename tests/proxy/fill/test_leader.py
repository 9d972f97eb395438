"""Leading a fill, driven directly: the download lands byte for byte under the lease, resumes a
dropped connection with a Range request, commits nothing it cannot verify, and stops without
committing when another node took its lease."""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path

import pytest

from proxy.cluster.embedded import EmbeddedCoordinator
from proxy.cluster.port import FillEvent, Node, Subscription
from proxy.errors import IntegrityError
from proxy.fill.context import FillContext, FillPolicy
from proxy.fill.leader import lead
from proxy.fill.state import Fill, FillState, TurnEnd
from tests.control import until
from tests.proxy.fill.conftest import TwoNodes, Upstream, counted, node_context, read_until, temp_files

MiB = 1 << 20
BODY = os.urandom(3 * MiB + 4321)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def drain(subscription: Subscription) -> list[FillEvent]:
    """The events published so far (the in-process coordinator delivers them at once)."""
    events = []
    while (event := await subscription.get(0)) is not None:
        events.append(event)
    return events


async def run_lead(fill: Fill, ctx: FillContext) -> TurnEnd:
    lease = await ctx.coordinator.try_lead(fill.key, ctx.policy.lease_ttl)
    assert lease is not None
    return await lead(fill, ctx, lease)


@pytest.fixture(params=["chunks", "taken over"])
def one_stream(request: pytest.FixtureRequest, ctx: FillContext, tmp_path: Path) -> FillContext:
    """One connection; the body read through aiohttp's chunks (a file under ``segment_min``) or
    received over the taken-over connection (``proxy.fill.receive``: at least ``segment_min``)."""
    if request.param == "chunks":
        return ctx
    return node_context(tmp_path / "taken", ctx.coordinator, FillPolicy(backoff=0.01, connections=1,
                                                                        segment_min=MiB))


def blobs(ctx: FillContext) -> list[object]:
    return [digest for digest, _ in ctx.store.digests()]


async def test_the_leader_commits_the_upstream_bytes_exactly(one_stream: FillContext, upstream: Upstream) -> None:
    ctx = one_stream
    upstream.fake.add("/model.bin", BODY)
    fill = Fill(upstream.source("/model.bin"), None)
    events = ctx.coordinator.subscribe(fill.key)
    assert await run_lead(fill, ctx) is TurnEnd.DONE
    assert fill.state is FillState.COMMITTED
    assert fill.blob is not None
    assert fill.entry is not None
    assert fill.blob.path.read_bytes() == BODY
    assert ctx.index.get(fill.key) == fill.entry
    assert (fill.entry.digest, fill.entry.size, fill.entry.etag) == (fill.blob.digest, len(BODY), '"v1"')
    assert upstream.fake.count("/model.bin") == 1
    assert temp_files(ctx) == []
    published = await drain(events)
    assert [e.kind for e in published][-1] == "done"
    assert published[-1].entry == fill.entry
    progress = [e.record.written for e in published if e.kind == "progress" and e.record is not None]
    assert len(progress) >= 3
    assert progress == sorted(progress)
    assert not (await ctx.coordinator.state(fill.key)).held  # the lease is given up


async def test_a_dropped_connection_is_resumed_with_a_range_request(one_stream: FillContext,
                                                                   upstream: Upstream) -> None:
    ctx = one_stream
    cut = MiB + 12345
    upstream.fake.add("/model.bin", BODY, drops=1, drop_after=cut)
    fill = Fill(upstream.source("/model.bin"), None)
    assert await run_lead(fill, ctx) is TurnEnd.DONE
    assert fill.blob is not None
    assert fill.blob.path.read_bytes() == BODY
    first, second = upstream.fake.gets("/model.bin")
    assert "Range" not in first.headers
    # it resumes where the temp file ends: after the bytes the client library had handed over
    # when the connection broke (it drops what it buffered), never beyond what was sent
    resumed_at = int(second.headers["Range"].removeprefix("bytes=").rstrip("-"))
    assert 0 < resumed_at <= cut
    assert second.headers["If-Range"] == '"v1"'
    assert counted(ctx, "upstream_resumes_total") == 1


async def test_content_that_fails_verification_commits_nothing(one_stream: FillContext, upstream: Upstream) -> None:
    ctx = one_stream
    lie = bytearray(BODY)
    lie[MiB] ^= 0xFF  # same size, one byte wrong
    upstream.fake.add("/model.bin", BODY, served=bytes(lie)).honest_sha256_header()
    fill = Fill(upstream.source("/model.bin"), None)
    events = ctx.coordinator.subscribe(fill.key)
    with pytest.raises(IntegrityError, match="sha256 mismatch"):
        await run_lead(fill, ctx)
    assert fill.state is not FillState.COMMITTED
    assert fill.blob is None
    assert ctx.index.get(fill.key) is None
    assert blobs(ctx) == []
    assert temp_files(ctx) == []
    failed = (await drain(events))[-1]
    assert (failed.kind, failed.error_type) == ("failed", "IntegrityError")
    assert not (await ctx.coordinator.state(fill.key)).held


async def test_a_revalidation_that_finds_the_copy_current_refreshes_its_entry(
        tmp_path: Path, upstream: Upstream) -> None:
    clock = Clock()
    ctx = node_context(tmp_path / "cache", EmbeddedCoordinator(Node("a", "http://a:8080")), clock=clock)
    upstream.fake.add("/model.bin", BODY)
    first = Fill(upstream.source("/model.bin"), None)
    assert await run_lead(first, ctx) is TurnEnd.DONE
    stale = ctx.index.get(first.key)
    assert stale is not None
    assert stale.checked_at == 1000.0
    clock.now = 2000.0
    again = Fill(upstream.source("/model.bin"), stale)
    assert await run_lead(again, ctx) is TurnEnd.DONE
    assert again.state is FillState.NOT_MODIFIED
    assert await again.done() == ctx.index.get(first.key)
    assert again.entry is not None
    assert (again.entry.digest, again.entry.checked_at) == (stale.digest, 2000.0)
    assert upstream.fake.gets("/model.bin")[-1].headers["If-None-Match"] == '"v1"'
    assert len(blobs(ctx)) == 1


async def test_a_leader_that_lost_its_lease_stops_and_leaves_its_temp_file(
        tmp_path: Path, upstream: Upstream) -> None:
    clock = Clock()
    coordinator = EmbeddedCoordinator(Node("a", "http://a:8080"), clock)
    ctx = node_context(tmp_path / "cache", coordinator)
    gate = asyncio.Event()
    upstream.fake.add("/model.bin", BODY, gate=gate)
    fill = Fill(upstream.source("/model.bin"), None)
    leading = asyncio.create_task(run_lead(fill, ctx))
    await read_until(fill, 64 * 1024)  # the first chunk landed; the upstream pauses
    clock.now += 3600  # the lease lapses ...
    assert await coordinator.try_lead(fill.key, 10.0) is not None  # ... and another leader takes it
    gate.set()
    assert await leading is TurnEnd.LOST
    assert fill.state is FillState.STREAMING
    assert ctx.index.get(fill.key) is None
    assert blobs(ctx) == []
    assert fill.tmp_path is not None
    assert fill.tmp_path.read_bytes() == BODY
    assert counted(ctx, "leases_lost_total") == 1


def awaiting(task: asyncio.Task[TurnEnd], name: str) -> bool:
    """Whether ``task`` is suspended inside a coroutine function called ``name`` (its await chain)."""
    link: object = task.get_coro()
    while link is not None:
        code = getattr(link, "cr_code", None)
        if code is not None and code.co_name == name:
            return True
        link = getattr(link, "cr_await", None)
    return False


async def test_a_second_cancellation_during_the_hand_over_keeps_the_temp_file(
        two_nodes: TwoNodes, upstream: Upstream) -> None:
    """Shutdown cancels a leader, and cancels it again while it hands over (Redis is slow to
    answer): the temp file the fill record names stays for the successor, which resumes it."""
    gate = asyncio.Event()
    upstream.fake.add("/model.bin", BODY, gate=gate)
    fill = Fill(upstream.source("/model.bin"), None)
    leading = asyncio.create_task(run_lead(fill, two_nodes.a))
    await read_until(fill, 64 * 1024)  # the first chunk landed; the upstream pauses
    redis = two_nodes.server.proc
    assert redis is not None
    redis.send_signal(signal.SIGSTOP)  # Redis stops answering: the hand-over waits for it
    try:
        leading.cancel()
        await until(lambda: awaiting(leading, "hand_over"))
        leading.cancel()
        with pytest.raises(asyncio.CancelledError):
            await leading
    finally:
        redis.send_signal(signal.SIGCONT)
    assert fill.tmp_path is not None
    assert fill.tmp_path.exists(), "the file stays for whoever takes the fill over"
    await two_nodes.lapse(fill.key)
    gate.set()
    successor = Fill(upstream.source("/model.bin"), None)
    assert await run_lead(successor, two_nodes.b) is TurnEnd.DONE
    assert successor.blob is not None
    assert successor.blob.path.read_bytes() == BODY
    first, resumed = upstream.fake.gets("/model.bin")
    assert "Range" not in first.headers
    assert int(resumed.headers["Range"].removeprefix("bytes=").rstrip("-")) >= 64 * 1024
    assert counted(two_nodes.b, "leases_taken_over_total") == 1
    assert temp_files(two_nodes.b) == []
