"""The coordination port's contract, for every implementation: in-process, a real Redis, and the
node-local coordinator the workers of ``--workers N`` share (a Unix socket server and its clients)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from proxy.cluster.embedded import EmbeddedCoordinator
from proxy.cluster.port import Coordinator, FillEvent, FillRecord, Node, key_id
from proxy.cluster.redis_backend import RedisCoordinator
from proxy.digest import Digest
from proxy.errors import CoordinationUnavailable
from proxy.upstream import ObjectMeta, Validators
from proxy.workers.client import LocalCoordinator
from proxy.workers.server import CoordinatorServer
from tests.cluster.conftest import RedisServer, free_port, need_redis

KEY = "http:https://example.com/model.bin"
A, B = Node("a", "http://a:8080"), Node("b", "http://b:8080")


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Pair:
    """Two nodes' coordinators on one backend, and a way to let a lease expire."""

    def __init__(self, a: Coordinator, b: Coordinator, clock: Clock | None, server: RedisServer | None) -> None:
        self.a, self.b, self.clock, self.server = a, b, clock, server

    @property
    def shared(self) -> bool:
        """Other nodes (Redis) or workers (node-local) are seen: not the single embedded node."""
        return self.a.shared

    async def expire(self, key: str) -> None:
        if self.clock is not None:
            self.clock.now += 3600
        else:
            assert self.server is not None  # what PX does when the time is up
            await self.server.command("DEL", f"mm:lease:{key_id(key)}")

    async def expire_member(self, node_id: str) -> None:
        if self.clock is not None:
            self.clock.now += 3600
        else:
            assert self.server is not None  # what PX does when the time is up
            await self.server.command("DEL", f"mm:node:{node_id}")


@pytest.fixture(params=["embedded", "redis", "local"])
async def pair(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Pair]:
    if request.param == "embedded":
        clock = Clock()
        shared = EmbeddedCoordinator(A, clock)
        # one process, one node: both handles are the same in-process coordinator
        yield Pair(shared, shared, clock, None)
        return
    if request.param == "local":
        clock = Clock()
        node_local = CoordinatorServer(str(tmp_path / "coordinator.sock"), clock)
        await node_local.start()
        wa, wb = LocalCoordinator(node_local.path, A), LocalCoordinator(node_local.path, B)
        await wa.start()
        await wb.start()
        try:
            yield Pair(wa, wb, clock, None)
        finally:
            await wa.close()
            await wb.close()
            await node_local.close()
        return
    need_redis()
    server = RedisServer(tmp_path)
    await server.start()
    a, b = RedisCoordinator(server.url, A), RedisCoordinator(server.url, B)
    await a.start()
    await b.start()
    try:
        yield Pair(a, b, None, server)
    finally:
        await a.close()
        await b.close()
        await server.kill()


async def test_one_lease_at_a_time_with_growing_tokens(pair: Pair) -> None:
    first = await pair.a.try_lead(KEY, 5.0)
    assert first is not None
    assert await pair.b.try_lead(KEY, 5.0) is None
    assert await pair.a.renew(first)
    await pair.expire(KEY)
    second = await pair.b.try_lead(KEY, 5.0)
    assert second is not None
    assert second.token > first.token
    assert not await pair.a.renew(first), "a stale token can neither renew nor fence"
    assert await pair.b.renew(second)


async def test_release_keeps_or_drops_the_fill_record(pair: Pair) -> None:
    lease = await pair.a.try_lead(KEY, 5.0)
    assert lease is not None
    meta = ObjectMeta(size=10, validators=Validators('"v1"'))
    record = FillRecord(lease.token, A, "/cache/tmp/a/fill-0123456789abcdef01234567", 4, meta)
    assert await pair.a.renew(lease, record)
    state = await pair.b.state(KEY)
    assert state.held
    assert state.record == record
    await pair.a.release(lease, keep_record=True)
    state = await pair.b.state(KEY)
    assert not state.held
    assert state.record == record, "a handed-over fill's record stays for the successor"
    successor = await pair.b.try_lead(KEY, 5.0)
    assert successor is not None
    await pair.a.release(lease, keep_record=False)  # stale token: no effect
    assert (await pair.b.state(KEY)).held
    await pair.b.release(successor, keep_record=False)
    assert await pair.b.state(KEY) == type(state)(False, None)


async def test_events_reach_subscribers_of_their_key_only(pair: Pair) -> None:
    sub = pair.b.subscribe(KEY)
    other = pair.b.subscribe(KEY + "/other")
    try:
        if pair.server is not None:  # the listener subscribes asynchronously: wait until it is on
            await pair.server.command("PING")
            for _ in range(200):
                if await pair.server.command("PUBSUB", "NUMPAT") == "2":
                    break
                await pair.b.check()
        event = FillEvent("progress", 7, FillRecord(7, A, None, 123, None))
        await pair.a.publish(KEY, event)
        assert await sub.get(5.0) == event
        assert await other.get(0.05) is None
        assert await sub.get(0.05) is None
    finally:
        sub.close()
        other.close()


async def test_memory_registry_lists_other_holders(pair: Pair) -> None:
    digest = Digest.of(b"hot")
    await pair.a.hold(digest, 60.0)
    if pair.server is None:
        assert await pair.b.holders(digest) == [], "one node (or the workers of one port) has no peers"
        return
    assert await pair.b.holders(digest) == [A]
    assert await pair.a.holders(digest) == [], "a node is not its own peer"
    assert 0 < int(await pair.server.command("PTTL", f"mm:mem:{digest.hex}")) <= 60_000
    await pair.a.drop(digest)
    assert await pair.b.holders(digest) == []


async def test_members_list_other_nodes_until_their_announcement_expires(pair: Pair) -> None:
    await pair.a.announce({"node_id": "a", "ready": True}, ttl=30.0)
    if not pair.shared:
        assert await pair.b.members() == [], "one node has no peers"
        return
    await pair.b.announce({"node_id": "b", "ready": True}, ttl=30.0)
    assert await pair.b.members() == [{"node_id": "a", "ready": True}]
    assert await pair.a.members() == [{"node_id": "b", "ready": True}]
    if pair.server is not None:
        assert 0 < int(await pair.server.command("PTTL", "mm:node:a")) <= 30_000
    await pair.expire_member("a")
    assert await pair.b.members() == []


async def test_blobs_in_use_are_seen_by_other_nodes(pair: Pair) -> None:
    hot, cold = Digest.of(b"hot"), Digest.of(b"cold")
    await pair.a.announce_in_use({hot, cold}, ttl=15.0)
    if not pair.shared:
        assert await pair.b.in_use_elsewhere() == set(), "one node: its own readers are all there is"
        return
    assert await pair.b.in_use_elsewhere() == {hot, cold}
    assert await pair.a.in_use_elsewhere() == set(), "a node's own claims are not 'elsewhere'"
    if pair.server is not None:
        assert 0 < int(await pair.server.command("PTTL", "mm:use:a")) <= 15_000
    await pair.a.announce_in_use({hot}, ttl=15.0)  # replaces the set: cold is read no more
    assert await pair.b.in_use_elsewhere() == {hot}
    await pair.a.announce_in_use(set(), ttl=15.0)
    assert await pair.b.in_use_elsewhere() == set()


async def test_redis_lease_has_a_time_to_live(tmp_path: object) -> None:
    need_redis()
    server = RedisServer(tmp_path)  # type: ignore[arg-type]
    await server.start()
    coordinator = RedisCoordinator(server.url, A)
    try:
        lease = await coordinator.try_lead(KEY, 2.5)
        assert lease is not None
        assert 0 < int(await server.command("PTTL", f"mm:lease:{key_id(KEY)}")) <= 2500
    finally:
        await coordinator.close()
        await server.kill()


async def test_redis_down_fails_fast_with_coordination_unavailable() -> None:
    coordinator = RedisCoordinator(f"redis://127.0.0.1:{free_port()}/0", A)
    try:
        with pytest.raises(CoordinationUnavailable):
            await coordinator.try_lead(KEY, 1.0)
        with pytest.raises(CoordinationUnavailable, match="waiting to retry"):
            await coordinator.state(KEY)
        assert not await coordinator.check()
    finally:
        await coordinator.close()


async def test_redis_holders_leave_out_workers_of_the_same_port(tmp_path: Path) -> None:
    need_redis()
    server = RedisServer(tmp_path)
    await server.start()
    w0, w1 = Node("n.w0", "http://n:8080"), Node("n.w1", "http://n:8080")  # --workers 2: one advertise URL
    coordinators = [RedisCoordinator(server.url, node) for node in (w0, w1, B)]
    try:
        digest = Digest.of(b"hot")
        await coordinators[0].hold(digest, 60.0)
        assert await coordinators[1].holders(digest) == [], "a hop to its own port would land on any worker"
        assert await coordinators[2].holders(digest) == [w0]
    finally:
        for coordinator in coordinators:
            await coordinator.close()
        await server.kill()
