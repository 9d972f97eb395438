"""A prefetch job runs on the worker the POST reached; any worker answers for it."""

from __future__ import annotations

import os

import aiohttp
from yarl import URL

from proxy.workers.worker import HEADER
from tests.fakes.fake_http import FakeUpstream
from tests.workers.conftest import SupervisedFactory


async def test_any_worker_answers_for_a_job_another_runs(
        start_supervised: SupervisedFactory, upstream: tuple[FakeUpstream, URL],
        session: aiohttp.ClientSession) -> None:
    fake, base = upstream
    fake.add("/model.bin", os.urandom(1 << 20))
    node = await start_supervised(2)

    async with session.post(node.url / "v1" / "prefetch", json={"url": str(base / "model.bin")}) as r:
        assert r.status == 202
        job = await r.json()
        runner = r.headers[HEADER]
    answered: set[str] = set()
    for _ in range(100):  # new connections: the kernel picks the worker each time
        async with session.get(node.url / "v1" / "jobs" / job["id"], params={"wait": "10"}) as r:
            assert r.status == 200, await r.text()
            assert (await r.json())["id"] == job["id"]
            answered.add(r.headers[HEADER])
        if len(answered) == 2:
            break
    assert answered == {"0", "1"}, f"both workers answered for the job worker {runner} runs"
    async with session.get(node.url / "v1" / "jobs") as r:
        assert [j["id"] for j in await r.json()] == [job["id"]], "the list holds every worker's jobs, once"
    async with session.get(node.url / "v1" / "jobs" / "no-such-job") as r:
        assert r.status == 404
    assert fake.count("/model.bin") == 1
