"""What the node-local coordinator adds to the contract: a worker whose connection ends (it died)
hands its fills over at once, keeping their records; and the supervisor learns which temp files
those records still name."""

from __future__ import annotations

from pathlib import Path

import pytest

from proxy.cluster.port import FillRecord, Node
from proxy.errors import CoordinationUnavailable
from proxy.upstream import ObjectMeta, Validators
from proxy.workers.client import LocalCoordinator
from proxy.workers.env import WorkerEnv, worker_node_id
from proxy.workers.server import CoordinatorServer

KEY = "http:https://example.com/model.bin"
W0, W1 = Node("n.w0", "http://n:8080"), Node("n.w1", "http://n:8080")


async def test_a_dead_workers_lease_is_released_at_once_keeping_its_record(tmp_path: Path) -> None:
    server = CoordinatorServer(str(tmp_path / "c.sock"))
    await server.start()
    dying, survivor = LocalCoordinator(server.path, W0), LocalCoordinator(server.path, W1)
    try:
        lease = await dying.try_lead(KEY, 60.0)
        assert lease is not None
        tmp = str(tmp_path / "tmp" / "n.w0" / "fill-0123456789abcdef01234567")
        record = FillRecord(lease.token, W0, tmp, 4, ObjectMeta(size=10, validators=Validators('"v1"')))
        assert await dying.renew(lease, record)
        sub = survivor.subscribe(KEY)
        await survivor.announce({"node_id": "n.w1"}, ttl=60.0)
        await dying.announce({"node_id": "n.w0"}, ttl=60.0)
        assert await survivor.members() == [{"node_id": "n.w0"}]

        await dying.close()  # what the kernel does to a killed worker's socket

        event = await sub.get(5.0)
        assert event is not None
        assert event.kind == "released"
        assert event.token == lease.token
        state = await survivor.state(KEY)
        assert not state.held, "no lease TTL to wait out"
        assert state.record == record
        assert server.referenced_tmp() == {tmp}, "the supervisor keeps this file when it sweeps"
        assert await survivor.members() == [], "a dead worker leaves the member list"
        successor = await survivor.try_lead(KEY, 60.0)
        assert successor is not None
        assert successor.token > lease.token
        await survivor.release(successor, keep_record=False)
        assert server.referenced_tmp() == set()
        sub.close()
    finally:
        await survivor.close()
        await server.close()


async def test_without_the_server_calls_fail_with_coordination_unavailable(tmp_path: Path) -> None:
    client = LocalCoordinator(str(tmp_path / "absent.sock"), W0)
    await client.start()  # does not raise: the fill code then acts for this worker alone
    try:
        assert not await client.check()
        with pytest.raises(CoordinationUnavailable):
            await client.try_lead(KEY, 1.0)
    finally:
        await client.close()


def test_worker_identity_round_trips_through_the_environment() -> None:
    env = WorkerEnv(index=3, count=16, fd=7, port=8080, s3_port=None, socket="/run/mm/c.sock")
    assert WorkerEnv.from_environ(env.to_environ()) == env
    assert WorkerEnv.from_environ({}) is None
    assert worker_node_id("pod-1", 3) == "pod-1.w3"
    long = worker_node_id("x" * 63, 15)
    assert len(long) == 63
    assert long.endswith(".w15")
