"""A build worker killed with SIGKILL leaves no process of its build behind: the build process, the
command it ran and that command's grandchildren (in the build's process group or not) all die; so
does a build stopped at its time limit."""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable
from pathlib import Path

from yarl import URL

from tests.conftest import ADMIN, ADMIN_TOKEN, Proxy
from tests.control import until
from tests.fakes.fake_http import FakeUpstream
from tests.proxy.artifacts.spawner_recipe import RECIPE
from tests.proxy.artifacts.workers import WorkerFactory

ProxyFactory = Callable[..., Awaitable[Proxy]]
MODULE = "tests.proxy.artifacts.spawner_recipe"


def alive(pid: int) -> bool:
    """The process exists and is not a zombie (an exited process its new parent has not reaped yet)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rpartition(")")[2].split()[0] != "Z"


async def _start_tree(proxy: Proxy, base: URL, pidfile: Path) -> tuple[str, list[int]]:
    """Request the spawner build; its key and the PIDs of its running tree."""
    async with proxy.session.post(proxy.server.make_url("/v1/builds"), headers=ADMIN, json={
            "sources": [str(base / "model.bin")], "recipe": RECIPE.name, "options": {"pidfile": str(pidfile)},
            "target": RECIPE.target()}) as r:
        assert r.status == 202, await r.text()
        key = (await r.json())["key"]
    await until(pidfile.exists, within=60)
    pids = [int(line) for line in pidfile.read_text().split()]
    assert len(pids) == 4
    assert all(alive(pid) for pid in pids), "the build's tree runs"
    assert os.getpgid(pids[3]) != os.getpgid(pids[2]), "one grandchild left the build's process group"
    return key, pids


async def test_a_killed_worker_s_build_tree_dies_with_it(start_proxy: ProxyFactory, start_worker: WorkerFactory,
                                                          upstream: tuple[FakeUpstream, URL], tmp_path: Path) -> None:
    fake, base = upstream
    fake.add("/model.bin", b"weights" * 100)
    proxy = await start_proxy(recipe_modules=(MODULE,))
    worker = await start_worker(str(proxy.server.make_url("")), ADMIN_TOKEN, "w1", "--recipe-module", MODULE,
                                module=False)
    _, pids = await _start_tree(proxy, base, tmp_path / "pids")

    await worker.kill()  # SIGKILL: the worker runs no clean-up of its own
    try:
        await until(lambda: not any(alive(pid) for pid in pids), within=20)
    finally:
        for pid in filter(alive, pids):  # leave nothing behind if the assertion failed
            os.kill(pid, 9)


async def test_a_build_past_its_time_limit_ends_its_whole_tree(start_proxy: ProxyFactory, start_worker: WorkerFactory,
                                                               upstream: tuple[FakeUpstream, URL],
                                                               tmp_path: Path) -> None:
    fake, base = upstream
    fake.add("/model.bin", b"weights" * 100)
    proxy = await start_proxy(recipe_modules=(MODULE,))
    await start_worker(str(proxy.server.make_url("")), ADMIN_TOKEN, "w1", "--recipe-module", MODULE,
                       "--timeout", "3", module=False)
    key, pids = await _start_tree(proxy, base, tmp_path / "pids")
    try:
        async with proxy.session.get(proxy.server.make_url(f"/v1/builds/{key}"), headers=ADMIN,
                                     params={"wait": "60"}) as r:
            body = await r.json()
        assert body["state"] == "failed"
        assert "time limit" in body["error"]
        assert not any(alive(pid) for pid in pids), "the build's tree ended before the failure was reported"
    finally:
        for pid in filter(alive, pids):
            os.kill(pid, 9)
