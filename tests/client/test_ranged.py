"""Parallel ranged reads: byte-exact from any number of connections, and a dropped connection
resumed from the first missing byte."""

from __future__ import annotations

import os

import pytest
from yarl import URL

from modelmanager_client.ranged import HttpRanges, chunks, read_all
from modelmanager_client.remote import Endpoint
from modelmanager_client.routes import Route
from tests.client.conftest import blocking
from tests.fakes.fake_http import FakeUpstream


def test_chunks_cover_the_file() -> None:
    assert chunks(10, 4) == [(0, 4), (4, 4), (8, 2)]
    assert chunks(0, 4) == []


@pytest.mark.parametrize("workers", [1, 3])
async def test_ranges_are_byte_exact(upstream: tuple[FakeUpstream, URL], workers: int) -> None:
    fake, base = upstream
    body = os.urandom(1_000_003)
    fake.add("/w.bin", body)
    source = HttpRanges(Route(Endpoint.of(str(base)), "/w.bin"), len(body))
    into = bytearray(len(body))
    try:
        await blocking(read_all, source, memoryview(into), workers, 100_000)
    finally:
        source.close()
    assert into == body
    assert fake.count("/w.bin") == 11


async def test_a_dropped_connection_is_resumed_where_it_broke(upstream: tuple[FakeUpstream, URL]) -> None:
    fake, base = upstream
    body = os.urandom(1_000_000)
    fake.add("/d.bin", body, drops=1, drop_after=300_000)
    source = HttpRanges(Route(Endpoint.of(str(base)), "/d.bin"), len(body))
    into = bytearray(len(body))
    try:
        await blocking(read_all, source, memoryview(into), 1)
    finally:
        source.close()
    assert into == body
    assert [g.headers["Range"] for g in fake.gets("/d.bin")] == ["bytes=0-999999", "bytes=300000-999999"]
