"""Segmented fills, driven directly against a real upstream socket: the ranges land byte for byte
over several connections, an upstream that ignores Range gets one stream, a dropped segment
resumes alone, a corrupt segment commits nothing, and readers' positions go first."""

from __future__ import annotations

import asyncio
import itertools
import os
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from proxy.errors import IntegrityError
from proxy.fill.context import FillContext, FillPolicy
from proxy.fill.landed import Landed
from proxy.fill.leader import lead
from proxy.fill.segments import plan
from proxy.fill.state import Fill, FillState, TurnEnd
from tests.fakes.fake_http import Recorded
from tests.proxy.fill.conftest import Upstream, counted, node_context, temp_files

KiB = 1 << 10
SEGMENT = 256 * KiB
BODY = os.urandom(16 * SEGMENT + 4321)
POLICY = FillPolicy(backoff=0.01, connections=4, segment_min=SEGMENT, segment_max=SEGMENT)
SEGMENTS = 16  # the 4321-byte runt joins the last segment


@pytest.fixture
def ctx(ctx: FillContext, tmp_path: Path) -> FillContext:
    return node_context(tmp_path / "cache", ctx.coordinator, POLICY)


async def run_lead(fill: Fill, ctx: FillContext) -> TurnEnd:
    lease = await ctx.coordinator.try_lead(fill.key, ctx.policy.lease_ttl)
    assert lease is not None
    return await lead(fill, ctx, lease)


def ranges(gets: list[Recorded]) -> list[tuple[int, int]]:
    """The bounded ranges asked for, as [start, end)."""
    out = []
    for get in gets:
        if "Range" in get.headers:
            first, _, last = get.headers["Range"].removeprefix("bytes=").partition("-")
            out.append((int(first), int(last) + 1))
    return out


def landed(*runs: tuple[int, int]) -> Landed:
    found = Landed()
    for start, end in runs:
        found.add(start, end)
    return found


def test_plan_cuts_large_files_and_leaves_small_ones_whole() -> None:
    assert [(s.start, s.end) for s in plan(len(BODY), landed(), POLICY) or []][-1] == (15 * SEGMENT, len(BODY))
    assert len(plan(len(BODY), landed(), POLICY) or []) == SEGMENTS
    assert plan(2 * SEGMENT - 1, landed(), POLICY) is None  # small: one stream
    assert plan(len(BODY), landed(), FillPolicy(connections=1, segment_min=SEGMENT)) is None
    resumed = plan(len(BODY), landed((0, 3 * SEGMENT + 7)), POLICY)
    assert resumed is not None
    assert resumed[0].start == 3 * SEGMENT + 7


def test_plan_after_a_takeover_fetches_only_the_holes() -> None:
    kept = landed((0, 2 * SEGMENT), (5 * SEGMENT, 9 * SEGMENT), (12 * SEGMENT + 5, 13 * SEGMENT))
    segments = plan(len(BODY), kept, POLICY)
    assert segments is not None
    covered = landed(*kept.runs(), *((s.start, s.end) for s in segments))
    assert covered.runs() == [(0, len(BODY))], "the holes and the kept runs cover the file"
    assert all(not kept.covers(s.start, s.start + 1) and kept.reach(s.start) == s.start for s in segments)
    assert all(kept.gaps(s.start, s.end) == [(s.start, s.end)] for s in segments), "nothing kept is fetched again"
    assert plan(len(BODY), landed((0, SEGMENT), (SEGMENT, len(BODY))), POLICY) == [], "only hashing left"


@given(st.lists(st.tuples(st.integers(0, 1000), st.integers(0, 1000)), max_size=12), st.integers(0, 1000),
       st.integers(0, 1000))
def test_gaps_and_runs_partition_any_range(runs: list[tuple[int, int]], a: int, b: int) -> None:
    start, end = min(a, b), max(a, b)
    kept = landed(*((min(x, y), max(x, y)) for x, y in runs))
    holes = kept.gaps(start, end)
    assert all(x < y for x, y in holes)
    assert all(not kept.covers(x, x + 1) for x, _ in holes)
    refilled = landed(*kept.runs(), *holes)
    assert refilled.covers(start, end)
    assert sum(y - x for x, y in holes) == sum(1 for p in range(start, end) if kept.reach(p) == p)
    beyond = kept.beyond(start)
    assert all(x >= start for x, _ in beyond)
    assert sum(y - x for x, y in beyond) == sum(1 for p in range(start, 1000) if kept.reach(p) > p)


def test_landed_tracks_runs_and_the_prefix() -> None:
    landed = Landed()
    landed.add(10, 20)
    landed.add(30, 40)
    assert (landed.prefix, landed.reach(15), landed.reach(25), landed.covers(32, 40)) == (0, 20, 25, True)
    landed.add(0, 10)
    landed.add(20, 30)
    assert (landed.prefix, landed.runs()) == (40, [(0, 40)])


async def test_a_segmented_fill_is_byte_exact_over_several_connections(ctx: FillContext, upstream: Upstream) -> None:
    upstream.fake.add("/big.bin", BODY).honest_sha256_header()
    fill = Fill(upstream.source("/big.bin"), None)
    assert await run_lead(fill, ctx) is TurnEnd.DONE
    assert fill.state is FillState.COMMITTED
    assert fill.blob is not None
    assert fill.blob.path.read_bytes() == BODY
    gets = upstream.fake.gets("/big.bin")
    assert "Range" not in gets[0].headers  # the first answer serves the first segment
    asked = sorted(ranges(gets))
    assert len(gets) == SEGMENTS
    assert len(asked) == SEGMENTS - 1
    assert asked[0][0] == SEGMENT
    assert asked[-1][1] == len(BODY)
    assert all(a[1] == b[0] for a, b in itertools.pairwise(asked))  # no gap, no overlap
    assert all(g.headers.get("If-Range") == '"v1"' for g in gets[1:])
    assert counted(ctx, "upstream_bytes_total") == len(BODY)
    assert temp_files(ctx) == []


async def test_an_upstream_that_ignores_range_gets_one_stream(ctx: FillContext, upstream: Upstream) -> None:
    upstream.fake.add("/big.bin", BODY, ignore_range=True)
    fill = Fill(upstream.source("/big.bin"), None)
    assert await run_lead(fill, ctx) is TurnEnd.DONE
    assert fill.blob is not None
    assert fill.blob.path.read_bytes() == BODY
    gets = upstream.fake.gets("/big.bin")
    assert len(gets) == 2  # the download and the probe, answered 200 and closed
    assert fill.landed is None  # never spliced: one stream wrote the file in order
    assert counted(ctx, "upstream_bytes_total") == len(BODY)


async def test_a_segment_that_fails_midway_resumes_alone(ctx: FillContext, upstream: Upstream) -> None:
    cut = 5 * SEGMENT + 12345
    upstream.fake.add("/big.bin", BODY, drop_at=cut)
    fill = Fill(upstream.source("/big.bin"), None)
    assert await run_lead(fill, ctx) is TurnEnd.DONE
    assert fill.blob is not None
    assert fill.blob.path.read_bytes() == BODY
    gets = upstream.fake.gets("/big.bin")
    assert len(gets) == SEGMENTS + 1  # one more request than segments: the resume
    resumed = [r for r in ranges(gets) if r[0] not in {i * SEGMENT for i in range(SEGMENTS)}]
    assert len(resumed) == 1
    start, end = resumed[0]
    assert 5 * SEGMENT < start <= cut
    assert end == 6 * SEGMENT
    assert counted(ctx, "upstream_resumes_total") == 1


async def test_a_corrupt_segment_fails_verification_and_commits_nothing(ctx: FillContext,
                                                                       upstream: Upstream) -> None:
    bad = bytearray(BODY)
    bad[9 * SEGMENT + 5] ^= 0xFF
    obj = upstream.fake.add("/big.bin", BODY, served=bytes(bad))
    obj.honest_sha256_header()  # the upstream's checksum is of the true bytes
    fill = Fill(upstream.source("/big.bin"), None)
    with pytest.raises(IntegrityError, match="sha256"):
        await run_lead(fill, ctx)
    assert len(ranges(upstream.fake.gets("/big.bin"))) == SEGMENTS - 1  # it was a segmented fill
    assert list(ctx.store.digests()) == []
    assert ctx.index.get(fill.key) is None
    assert temp_files(ctx) == []


async def test_readers_positions_are_fetched_first(tmp_path: Path, ctx: FillContext, upstream: Upstream) -> None:
    """A reader at byte 0 and a Range reader at 90% both get bytes while most of the file is
    still missing: the segment a reader waits at goes before the ones in order."""
    ctx = node_context(tmp_path / "paced", ctx.coordinator, FillPolicy(
        backoff=0.01, connections=2, segment_min=SEGMENT, segment_max=SEGMENT))
    upstream.fake.add("/big.bin", BODY, rate=1 << 20, chunk=16 * KiB)  # 1 MiB/s per connection
    fill = Fill(upstream.source("/big.bin"), None)
    leading = asyncio.create_task(run_lead(fill, ctx))
    await fill.ready()
    late = int(len(BODY) * 0.9)
    seen: dict[str, tuple[int, bool]] = {}

    async def first_bytes(name: str, start: int, end: int) -> None:
        async for _ in fill.read(start, end):
            seen[name] = (fill.written, fill.finished)  # how far the prefix was when bytes came
            return

    await asyncio.gather(first_bytes("start", 0, len(BODY)), first_bytes("late", late, late + 1000))
    assert seen["start"][1] is False
    assert seen["late"][1] is False
    assert seen["late"][0] < len(BODY) // 2, "the 90% reader waited for the segments in order"
    assert fill.has(late, late + 1000)
    assert await leading is TurnEnd.DONE
    assert fill.blob is not None
    assert fill.blob.path.read_bytes() == BODY


async def test_idle_connections_take_the_far_half_of_a_segment_in_flight(tmp_path: Path, ctx: FillContext,
                                                                         upstream: Upstream) -> None:
    """Two segments, four connections: the two spare ones split the segments in flight (while a
    quarter of a segment is left), byte-exact, every byte landed once."""
    body = BODY[:2 * SEGMENT]
    ctx = node_context(tmp_path / "steal", ctx.coordinator, FillPolicy(
        backoff=0.01, connections=4, segment_min=SEGMENT, segment_max=SEGMENT, steal_min=SEGMENT // 8))
    upstream.fake.add("/two.bin", body, rate=1e6)  # slow enough that both segments are in flight
    fill = Fill(upstream.source("/two.bin"), None)
    assert await run_lead(fill, ctx) is TurnEnd.DONE
    assert fill.blob is not None
    assert fill.blob.path.read_bytes() == body
    asked = ranges(upstream.fake.gets("/two.bin"))
    assert len(asked) > 1, "besides the probe, ranges for the far halves were asked for"
    assert all(0 < start < end <= len(body) for start, end in asked)
    assert counted(ctx, "upstream_bytes_total") == len(body), "what a cut connection sent beyond its end is dropped"
