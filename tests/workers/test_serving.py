"""Two workers on one node behind one port: a cold file is fetched once, both workers serve it,
/metrics and /v1/status on either worker describe the whole node, SIGTERM stops everything."""

from __future__ import annotations

import asyncio
import hashlib
import os
import socket
from pathlib import Path

import aiohttp
from yarl import URL

from proxy.workers.supervisor import START_ATTEMPTS
from proxy.workers.worker import HEADER
from tests.fakes.fake_http import FakeUpstream
from tests.workers.conftest import NODE, Supervised, SupervisedFactory

SIZE = 4 << 20
CLIENTS = 32


async def _get(session: aiohttp.ClientSession, url: URL) -> tuple[str, str, str]:
    async with session.get(url) as r:
        assert r.status == 200
        return r.headers[HEADER], hashlib.sha256(await r.read()).hexdigest(), r.headers.get("X-Cache", "")


def _requests_total(metrics: str) -> float:
    return sum(float(line.split()[-1]) for line in metrics.splitlines()
               if line.startswith("modelmanager_requests_total{"))


async def test_a_herd_on_two_workers_fetches_once_and_is_served_by_both(
        start_supervised: SupervisedFactory, upstream: tuple[FakeUpstream, URL],
        session: aiohttp.ClientSession, coordination: tuple[str, ...]) -> None:
    fake, base = upstream
    body = os.urandom(SIZE)
    fake.add("/herd.bin", body, chunk=256 << 10, rate=SIZE / 1.5)  # a 1.5-second download
    node = await start_supervised(2, coordination)

    got = await asyncio.gather(*(_get(session, node.fetch_url(base / "herd.bin")) for _ in range(CLIENTS)))

    assert fake.count("/herd.bin") == 1, "one upstream download for the whole node"
    assert {digest for _, digest, _ in got} == {hashlib.sha256(body).hexdigest()}
    assert {worker for worker, _, _ in got} == {"0", "1"}, "both workers served clients"
    assert any(cache != "hit" for _, _, cache in got)

    # /metrics on either worker: the node's totals; /v1/status on either: both workers
    answered: set[str] = set()
    for _ in range(60):
        async with session.get(node.url / "metrics") as r:
            assert _requests_total(await r.text()) == CLIENTS
            answered.add(r.headers[HEADER])
        async with session.get(node.url / "v1" / "status") as r:
            doc = await r.json()
        assert sorted(n["node_id"] for n in doc["nodes"]) == [f"{NODE}.w0", f"{NODE}.w1"]
        assert doc["nodes"][0]["self"]
        assert not doc["nodes"][1]["self"]
        if answered == {"0", "1"}:
            break
    assert answered == {"0", "1"}

    assert await node.stop() == 0, "SIGTERM: the supervisor stops its workers and exits cleanly"
    assert node.logged("stopped")
    with socket.socket() as s:  # nobody holds the port any more (connections may linger in TIME_WAIT)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", node.url.port or 0))


async def test_a_port_in_use_fails_fast(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        node = Supervised(tmp_path / "cache", "127.0.0.1", 2, ())
        node.argv[node.argv.index("--port") + 1] = str(port)
        proc = await asyncio.create_subprocess_exec(*node.argv, stdout=asyncio.subprocess.DEVNULL,
                                                    stderr=asyncio.subprocess.PIPE)
        _, err = await proc.communicate()
    assert proc.returncode == 1
    assert b"in use" in err
    assert b"worker started" not in err, "no worker was started on a port another process holds"


async def test_workers_that_keep_failing_at_start_fail_the_supervisor(tmp_path: Path) -> None:
    node = Supervised(tmp_path / "cache", "127.0.0.1", 2,
                      ("--s3-upstream-endpoint", "http://127.0.0.1:1", "--s3-client-keys-file",
                       str(tmp_path / "missing-keys")))  # valid settings; each worker fails building its app
    proc = await asyncio.create_subprocess_exec(*node.argv, stdout=asyncio.subprocess.DEVNULL,
                                                stderr=asyncio.subprocess.PIPE)
    _, err = await proc.communicate()
    assert proc.returncode == 1
    assert err.count(b'"worker started"') == 2 * START_ATTEMPTS
    assert b"worker keeps failing at start: giving up" in err
    assert b'"listening"' not in err
