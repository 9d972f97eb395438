"""OwnedTasks: held until they end, failures logged by name, all cancelled and awaited on close."""

from __future__ import annotations

import asyncio
import inspect
import logging

import pytest

from proxy.tasks import OwnedTasks


async def test_a_task_is_held_while_it_runs_and_dropped_when_it_ends() -> None:
    tasks = OwnedTasks("test")
    go = asyncio.Event()

    async def work() -> None:
        await go.wait()

    task = tasks.start(work(), name="worker")
    assert (len(tasks), task.get_name()) == (1, "worker")
    go.set()
    await tasks.settle()
    assert task.done()
    assert len(tasks) == 0


async def test_an_unexpected_exception_is_logged_with_the_task_name(caplog: pytest.LogCaptureFixture) -> None:
    tasks = OwnedTasks("test")

    async def work() -> None:
        raise ValueError("boom")

    with caplog.at_level(logging.ERROR, logger="proxy.tasks"):
        tasks.start(work(), name="doomed")
        await tasks.settle()
    [record] = [r for r in caplog.records if r.name == "proxy.tasks"]
    assert (record.task, record.owner, record.error) == ("doomed", "test", "ValueError('boom')")  # type: ignore[attr-defined]
    assert record.exc_info is not None
    assert isinstance(record.exc_info[1], ValueError)
    await tasks.close()  # a failed task does not make close raise


async def test_close_cancels_every_task_and_waits_for_its_cleanup() -> None:
    tasks = OwnedTasks("test")
    started = [asyncio.Event() for _ in range(3)]
    cleaned: list[int] = []

    async def work(n: int) -> None:
        started[n].set()
        try:
            await asyncio.Event().wait()
        finally:
            await asyncio.sleep(0)  # cleanup that itself awaits
            cleaned.append(n)

    for n in range(3):
        tasks.start(work(n), name=f"w{n}")
    for event in started:
        await event.wait()
    await tasks.close()
    assert sorted(cleaned) == [0, 1, 2]
    assert len(tasks) == 0


async def test_close_also_ends_tasks_started_while_closing() -> None:
    tasks = OwnedTasks("test")
    late_ended, waiting = asyncio.Event(), asyncio.Event()

    async def late() -> None:
        try:
            await asyncio.Event().wait()
        finally:
            late_ended.set()

    async def work() -> None:
        try:
            waiting.set()
            await asyncio.Event().wait()
        finally:
            tasks.start(late(), name="started by a cancelled task")

    tasks.start(work(), name="w")
    await waiting.wait()
    await tasks.close()
    assert late_ended.is_set()
    assert len(tasks) == 0


async def test_a_keyed_task_is_one_per_key_and_stops_alone() -> None:
    tasks = OwnedTasks("test")
    stopped: list[str] = []
    running = {"a": asyncio.Event(), "b": asyncio.Event()}

    async def work(name: str) -> None:
        try:
            running[name].set()
            await asyncio.Event().wait()
        finally:
            stopped.append(name)

    tasks.start(work("a"), name="a", key="a")
    tasks.start(work("b"), name="b", key="b")
    for event in running.values():
        await event.wait()
    second = work("a again")
    with pytest.raises(RuntimeError, match="already running"):
        tasks.start(second, name="a", key="a")
    assert inspect.getcoroutinestate(second) == inspect.CORO_CLOSED  # closed, never left un-awaited
    assert "a" in tasks
    assert "b" in tasks
    await tasks.stop("a")
    assert stopped == ["a"]
    assert "a" not in tasks
    assert "b" in tasks
    assert len(tasks) == 1
    await tasks.stop("a")  # not running: nothing to do
    await tasks.close()
    assert stopped == ["a", "b"]
