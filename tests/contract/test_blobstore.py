"""The BlobStore contract, on the filesystem store. Every test also checks nothing is left in tmp/."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from proxy.digest import Checksum, Digest
from proxy.errors import IntegrityError
from proxy.storage.blobstore import FsBlobStore
from proxy.storage.layout import Layout
from proxy.storage.writer import Expectation

NODE = "node-a"


@pytest.fixture
def store(tmp_path: Path) -> Iterator[FsBlobStore]:
    s = FsBlobStore(Layout(tmp_path), NODE)
    yield s
    assert list(s.layout.tmp(NODE).iterdir()) == [], "temp files left behind"


async def write(store: FsBlobStore, data: bytes, expect: Expectation = Expectation()) -> Path:
    writer = store.create(expect)
    for i in range(0, len(data), 1000):
        await writer.write(data[i:i + 1000])
    return (await writer.commit()).path


async def test_commit_is_content_addressed_and_read_only(store: FsBlobStore) -> None:
    path = await write(store, b"x" * 5000)
    digest = Digest.of(b"x" * 5000)
    assert path == store.layout.blob(digest)
    assert path.read_bytes() == b"x" * 5000
    assert path.stat().st_mode & 0o222 == 0
    info = store.stat(digest)
    assert info is not None
    assert info.size == 5000


async def test_committing_the_same_content_twice_is_harmless(store: FsBlobStore) -> None:
    first = await write(store, b"same")
    inode = first.stat().st_ino
    second = await write(store, b"same")
    assert first == second
    assert second.stat().st_ino == inode
    assert [d for d, _ in store.digests()] == [Digest.of(b"same")]


async def test_concurrent_commits_of_one_blob(store: FsBlobStore) -> None:
    data = bytes(range(256)) * 4000
    paths = await asyncio.gather(*(write(store, data) for _ in range(8)))
    assert len(set(paths)) == 1
    assert paths[0].read_bytes() == data
    assert len(list(store.digests())) == 1


@pytest.mark.parametrize("expect", [
    Expectation(size=4),
    Expectation(checksums=(Checksum("sha256", hashlib.sha256(b"other").hexdigest()),)),
    Expectation(checksums=(Checksum("md5", hashlib.md5(b"other").hexdigest()),)),
    Expectation(digest=Digest.of(b"other")),
])
async def test_mismatch_raises_and_commits_nothing(store: FsBlobStore, expect: Expectation) -> None:
    with pytest.raises(IntegrityError):
        await write(store, b"hello", expect)
    assert list(store.digests()) == []


async def test_matching_expectations_commit(store: FsBlobStore) -> None:
    expect = Expectation(size=5, digest=Digest.of(b"hello"), checksums=(
        Checksum("sha256", hashlib.sha256(b"hello").hexdigest()), Checksum("md5", hashlib.md5(b"hello").hexdigest())))
    assert (await write(store, b"hello", expect)).read_bytes() == b"hello"


async def test_cancel_is_idempotent(store: FsBlobStore) -> None:
    writer = store.create(Expectation())
    await writer.write(b"partial")
    await writer.cancel()
    await writer.cancel()
    assert not writer.path.exists()


def test_crash_leftovers_are_swept_at_start(tmp_path: Path) -> None:
    layout = Layout(tmp_path)
    (layout.tmp(NODE) / "nested").mkdir(parents=True)
    (layout.tmp(NODE) / "fill-dead").write_bytes(b"half a blob")
    (layout.tmp(NODE) / "nested" / "x").write_bytes(b"")
    (layout.tmp("other-node")).mkdir(parents=True)
    (layout.tmp("other-node") / "fill-live").write_bytes(b"another node's fill in progress")
    store = FsBlobStore(layout, NODE)
    assert store.sweep_tmp() == 2
    assert list(layout.tmp(NODE).iterdir()) == []
    assert (layout.tmp("other-node") / "fill-live").exists(), "another node's temp files are not ours"


def test_delete(store: FsBlobStore) -> None:
    assert store.delete(Digest.of(b"nothing")) is False
