"""Fill: its transitions, the readers they wake, the final byte held until the commit, and the
moves it refuses. Bytes land in a real BlobWriter temp file and commit into a real blob store."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from proxy.digest import Digest
from proxy.errors import FillFailed, UpstreamUnavailable
from proxy.fill.state import Fill, FillState, IllegalTransition
from proxy.storage.blobstore import FsBlobStore
from proxy.storage.index import IndexEntry
from proxy.storage.layout import Layout
from proxy.storage.writer import BlobWriter, Expectation
from proxy.upstream import Fetched, FetchRequest, NotModified, ObjectMeta, Validators
from tests.proxy.fill.conftest import collect, read_until, reader

KEY = "http:https://example.com/model.bin"
BODY = os.urandom(3 * (1 << 20) + 123)
META = ObjectMeta(size=len(BODY), validators=Validators('"v1"'))


@dataclass(frozen=True)
class Named:
    """A source that is only a key: these tests drive the fill by hand, nobody fetches."""

    key: str = KEY

    async def fetch(self, request: FetchRequest) -> Fetched | NotModified:
        raise AssertionError("not fetched in state tests")


@pytest.fixture
def store(tmp_path: Path) -> FsBlobStore:
    return FsBlobStore(Layout(tmp_path / "cache"), "a")


async def stream(fill: Fill, store: FsBlobStore, data: bytes, meta: ObjectMeta = META) -> BlobWriter:
    writer = store.create(Expectation(size=meta.size))
    fill.streaming(meta, writer.path, 0)
    await writer.write(data)
    fill.progressed(writer.written)
    return writer


async def commit(fill: Fill, writer: BlobWriter) -> IndexEntry:
    blob = await writer.commit()
    assert fill.meta is not None
    entry = IndexEntry.of(fill.key, blob, fill.meta, 1000.0)
    fill.committed(blob, entry)
    return entry


async def test_a_fill_goes_from_pending_through_streaming_to_committed(store: FsBlobStore) -> None:
    fill = Fill(Named(), None)
    assert (fill.state, fill.size, fill.finished) == (FillState.PENDING, None, False)
    writer = await stream(fill, store, BODY)
    assert (fill.state, fill.meta, fill.tmp_path, fill.written) == (FillState.STREAMING, META, writer.path, len(BODY))
    entry = await commit(fill, writer)
    assert (fill.state, fill.finished, fill.size, fill.entry) == (FillState.COMMITTED, True, len(BODY), entry)
    assert fill.blob is not None
    assert fill.blob.path.read_bytes() == BODY
    assert await fill.done() == entry


async def test_every_transition_wakes_the_waiting_readers(store: FsBlobStore) -> None:
    fill = Fill(Named(), None)
    ready = asyncio.create_task(fill.ready())
    done = asyncio.create_task(fill.done())
    whole = reader(fill)
    writer = store.create(Expectation(size=len(BODY)))
    fill.streaming(META, writer.path, 0)
    await ready  # woken by the metadata
    for start in range(0, len(BODY), 1 << 20):
        await writer.write(BODY[start:start + (1 << 20)])
        fill.progressed(writer.written)
        await read_until(fill, min(writer.written, len(BODY) - 1))  # a reader sees each step land
    assert not done.done()
    entry = await commit(fill, writer)
    assert await done == entry
    assert await whole == BODY


async def test_the_final_byte_is_held_until_the_commit(store: FsBlobStore) -> None:
    fill = Fill(Named(), None)
    got = bytearray()
    arrived = asyncio.Event()

    async def read() -> None:
        async for chunk in fill.read(0, None):
            got.extend(chunk)
            arrived.set()

    task = asyncio.create_task(read())
    writer = await stream(fill, store, BODY)
    while len(got) < len(BODY) - 1:
        arrived.clear()
        await arrived.wait()
    assert bytes(got) == BODY[:-1]  # every byte is on disk, but the last is not readable yet
    assert not task.done()
    await commit(fill, writer)
    await task
    assert bytes(got) == BODY


async def test_a_range_that_stops_short_of_the_end_is_served_before_the_commit(store: FsBlobStore) -> None:
    fill = Fill(Named(), None)
    await stream(fill, store, BODY[:5000])
    got = b"".join([chunk async for chunk in fill.read(1000, 5000)])
    assert got == BODY[1000:5000]
    assert fill.state is FillState.STREAMING


async def test_readers_follow_the_bytes_to_another_temp_file(store: FsBlobStore, tmp_path: Path) -> None:
    """A takeover moves the bytes to the new leader's temp file: readers reopen it and go on."""
    fill = Fill(Named(), None)
    whole = reader(fill)
    first = await stream(fill, store, BODY[:1 << 20])
    await read_until(fill, 1 << 20)
    await first.detach()
    successor = FsBlobStore(store.layout, "b")
    writer = await asyncio.get_running_loop().run_in_executor(
        None, successor.adopt, first.path, Expectation(size=len(BODY)))
    fill.streaming(META, writer.path, writer.written)
    assert (fill.tmp_path, fill.written) == (writer.path, 1 << 20)
    await writer.write(BODY[1 << 20:])
    fill.progressed(writer.written)
    await commit(fill, writer)
    assert await whole == BODY


async def test_the_same_temp_file_announced_again_only_moves_forward(store: FsBlobStore) -> None:
    """Progress announcements may arrive out of order (a follower's catch-up and an event)."""
    fill = Fill(Named(), None)
    writer = await stream(fill, store, BODY[:4096])
    fill.streaming(META, writer.path, 1024)
    assert fill.written == 4096
    fill.streaming(META, None, 0)  # metadata only: the file and its length stay
    assert (fill.tmp_path, fill.written) == (writer.path, 4096)


async def test_a_failure_reaches_readers_and_waiters(store: FsBlobStore) -> None:
    fill = Fill(Named(), None)
    await stream(fill, store, BODY[:4096])
    whole = reader(fill)
    done = asyncio.create_task(fill.done())
    await read_until(fill, 4096)
    error = UpstreamUnavailable("the upstream went away")
    fill.failed(error)
    assert (fill.state, fill.error, fill.finished) == (FillState.FAILED, error, True)
    with pytest.raises(UpstreamUnavailable):
        await done
    with pytest.raises(FillFailed, match="went away"):
        await whole
    await fill.ready()  # an ended fill is ready: the waiter looks at the error


async def test_a_revalidated_fill_returns_the_refreshed_entry_and_has_no_bytes() -> None:
    fill = Fill(Named(), None)
    entry = IndexEntry(key=KEY, digest=Digest("0" * 64), size=len(BODY), etag='"v1"', checked_at=2000.0)
    fill.not_modified(entry)
    assert (fill.state, fill.entry) == (FillState.NOT_MODIFIED, entry)
    assert await fill.done() == entry
    with pytest.raises(FillFailed, match="no bytes"):
        await collect(fill)


async def test_nothing_moves_a_fill_that_ended(store: FsBlobStore) -> None:
    fill = Fill(Named(), None)
    writer = await stream(fill, store, BODY)
    entry = await commit(fill, writer)
    blob = fill.blob
    assert blob is not None
    moves: list[Callable[[], None]] = [
        lambda: fill.streaming(META, writer.path, 0), lambda: fill.progressed(len(BODY)),
        lambda: fill.committed(blob, entry), lambda: fill.not_modified(entry),
        lambda: fill.failed(RuntimeError("late"))]
    for move in moves:
        with pytest.raises(IllegalTransition, match="cannot go from committed"):
            move()
    assert (fill.state, fill.error, fill.entry) == (FillState.COMMITTED, None, entry)

    failed = Fill(Named(), None)
    failed.failed(UpstreamUnavailable("gone"))
    with pytest.raises(IllegalTransition, match="cannot go from failed to committed"):
        failed.committed(blob, entry)


def test_bytes_cannot_land_before_the_metadata_nor_go_back() -> None:
    fill = Fill(Named(), None)
    with pytest.raises(IllegalTransition, match="cannot go from pending to streaming"):
        fill.progressed(10)
    fill.streaming(META, Path("/nonexistent/fill-0"), 100)
    with pytest.raises(IllegalTransition, match="cannot go back"):
        fill.progressed(50)
    assert fill.written == 100
