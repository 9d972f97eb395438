"""Following a fill another node leads, on one cache volume through a real redis-server: the
follower tails the leader's temp file to the commit, takes the fill over when the leader's lease
lapses, and ends with the leader's error when the leader's fill fails."""

from __future__ import annotations

import asyncio
import os

import pytest

from proxy.errors import FillFailed, IntegrityError
from proxy.fill.registry import Fills
from proxy.fill.state import FillState
from tests.proxy.fill.conftest import TwoNodes, Upstream, counted, read_until, reader, temp_files

MiB = 1 << 20
BODY = os.urandom(2 * MiB + 777)
FIRST_CHUNK = 64 * 1024
"""What the fake upstream sends before it pauses at a gate."""


async def test_a_follower_tails_the_leaders_temp_file_to_the_commit(two_nodes: TwoNodes, upstream: Upstream) -> None:
    gate = asyncio.Event()
    upstream.fake.add("/model.bin", BODY, gate=gate)
    fills_a, fills_b = Fills(two_nodes.a), Fills(two_nodes.b)
    leader = fills_a.start(upstream.source("/model.bin"))
    await read_until(leader, FIRST_CHUNK)
    follower = fills_b.start(upstream.source("/model.bin"))
    await follower.ready()
    assert follower.state is FillState.STREAMING
    assert follower.tmp_path == leader.tmp_path
    whole = reader(follower)
    gate.set()
    assert await whole == BODY
    entry = await follower.done()
    assert entry == await leader.done()
    assert follower.blob is not None
    assert leader.blob is not None
    assert follower.blob.path == leader.blob.path
    assert upstream.fake.count("/model.bin") == 1  # one download for both nodes
    assert counted(two_nodes.b, "cross_pod_followers_total") == 1
    await fills_a.close()
    await fills_b.close()


async def test_a_follower_takes_over_when_the_leaders_lease_lapses(two_nodes: TwoNodes, upstream: Upstream) -> None:
    gate = asyncio.Event()
    obj = upstream.fake.add("/model.bin", BODY, gate=gate)
    fills_a, fills_b = Fills(two_nodes.a), Fills(two_nodes.b)
    leader = fills_a.start(upstream.source("/model.bin"))
    await read_until(leader, FIRST_CHUNK)
    obj.gate = None  # the leader stalls for good (its response stays paused); later responses flow
    follower = fills_b.start(upstream.source("/model.bin"))
    whole = reader(follower)
    await follower.ready()
    await two_nodes.lapse(follower.key)  # the stalled leader stops renewing: its lease runs out

    entry = await follower.done()  # the follower notices at its next catch-up and leads
    assert await whole == BODY
    assert follower.blob is not None
    assert follower.blob.path.read_bytes() == BODY
    assert two_nodes.b.index.get(follower.key) == entry
    _, second = upstream.fake.gets("/model.bin")
    assert second.headers["Range"] == f"bytes={FIRST_CHUNK}-"  # it adopted the leader's temp file
    assert counted(two_nodes.b, "leases_taken_over_total") == 1
    assert not leader.finished  # the old leader knows nothing yet; its fence keeps it from committing
    await fills_a.close()
    assert leader.state is FillState.FAILED
    assert temp_files(two_nodes.a) == []
    gate.set()
    await fills_b.close()


async def test_a_follower_ends_with_the_leaders_error(two_nodes: TwoNodes, upstream: Upstream) -> None:
    gate = asyncio.Event()
    lie = bytearray(BODY)
    lie[-1] ^= 0xFF
    upstream.fake.add("/model.bin", BODY, gate=gate, served=bytes(lie)).honest_sha256_header()
    fills_a, fills_b = Fills(two_nodes.a), Fills(two_nodes.b)
    leader = fills_a.start(upstream.source("/model.bin"))
    await read_until(leader, FIRST_CHUNK)
    follower = fills_b.start(upstream.source("/model.bin"))
    await follower.ready()
    whole = reader(follower)
    gate.set()
    with pytest.raises(IntegrityError):
        await leader.done()
    with pytest.raises(IntegrityError, match="led by another node failed"):
        await follower.done()
    with pytest.raises(FillFailed):
        await whole
    assert two_nodes.b.index.get(follower.key) is None
    assert list(two_nodes.b.store.digests()) == []
    await fills_a.close()
    await fills_b.close()
