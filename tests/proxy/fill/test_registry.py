"""Fills, the registry: one fill per key, its failure kept for the readers, and close, which
cancels the fills (a leader on a shared volume hands its fill over to the node following it)."""

from __future__ import annotations

import asyncio
import os

import pytest

from proxy.errors import FillFailed, UpstreamRejected
from proxy.fill.context import FillContext
from proxy.fill.registry import Fills
from proxy.fill.state import FillState
from tests.proxy.fill.conftest import TwoNodes, Upstream, collect, counted, read_until, reader, temp_files

MiB = 1 << 20
BODY = os.urandom(2 * MiB + 999)
FIRST_CHUNK = 64 * 1024
"""What the fake upstream sends before it pauses at a gate."""


async def test_one_fill_per_key_until_it_ends(ctx: FillContext, upstream: Upstream) -> None:
    upstream.fake.add("/model.bin", BODY)
    fills = Fills(ctx)
    fill = fills.start(upstream.source("/model.bin"))
    with pytest.raises(RuntimeError, match="already running"):
        fills.start(upstream.source("/model.bin"))
    assert fills.get(fill.key) is fill
    assert (len(fills), fills.running()) == (1, [fill])
    await fill.ready()
    assert ctx.metrics.value("modelmanager_inflight_fills") == 1
    await fill.done()
    await fills.settle()
    assert (fills.get(fill.key), len(fills)) == (None, 0)
    assert ctx.metrics.value("modelmanager_inflight_fills") == 0
    assert fills.start(upstream.source("/model.bin")) is not fill  # the key is free again
    await fills.close()


async def test_a_failure_is_kept_on_the_fill_for_its_readers(ctx: FillContext, upstream: Upstream) -> None:
    fills = Fills(ctx)
    fill = fills.start(upstream.source("/missing.bin"))  # the fake upstream answers 404
    early = reader(fill)
    with pytest.raises(UpstreamRejected) as caught:
        await fill.done()
    assert caught.value.status == 404
    assert (fill.state, fill.error) == (FillState.FAILED, caught.value)
    with pytest.raises(FillFailed):
        await early
    with pytest.raises(FillFailed):  # a reader that comes late learns the same
        await collect(fill)
    assert counted(ctx, "fills_failed_total") == 1
    assert ctx.index.get(fill.key) is None
    await fills.settle()
    assert len(fills) == 0


async def test_close_cancels_a_running_fill_and_removes_its_temp_file(ctx: FillContext, upstream: Upstream) -> None:
    gate = asyncio.Event()
    upstream.fake.add("/model.bin", BODY, gate=gate)
    fills = Fills(ctx)
    fill = fills.start(upstream.source("/model.bin"))
    await read_until(fill, FIRST_CHUNK)
    assert len(temp_files(ctx)) == 1
    await fills.close()
    assert fill.state is FillState.FAILED
    assert isinstance(fill.error, asyncio.CancelledError)
    assert len(fills) == 0
    assert temp_files(ctx) == []  # alone on its volume: nobody would take the file over
    assert ctx.index.get(fill.key) is None


async def test_close_hands_a_led_fill_over_to_the_node_following_it(two_nodes: TwoNodes, upstream: Upstream) -> None:
    gate = asyncio.Event()
    obj = upstream.fake.add("/model.bin", BODY, gate=gate)
    fills_a, fills_b = Fills(two_nodes.a), Fills(two_nodes.b)
    leader = fills_a.start(upstream.source("/model.bin"))
    await read_until(leader, FIRST_CHUNK)
    obj.gate = None  # the leader's response stays paused; later ones flow
    follower = fills_b.start(upstream.source("/model.bin"))
    await follower.ready()
    assert follower.tmp_path == leader.tmp_path  # it tails the leader's temp file
    whole = reader(follower)

    await fills_a.close()  # shutdown: the leader hands over at once, without waiting for its lease to lapse
    assert leader.state is FillState.FAILED
    assert isinstance(leader.error, asyncio.CancelledError)
    assert await whole == BODY
    entry = await follower.done()
    assert two_nodes.b.index.get(follower.key) == entry
    _, second = upstream.fake.gets("/model.bin")
    assert second.headers["Range"] == f"bytes={FIRST_CHUNK}-"  # the successor kept the leader's bytes
    assert counted(two_nodes.b, "leases_taken_over_total") == 1
    assert temp_files(two_nodes.a) == []
    gate.set()
    await fills_b.close()
