"""Quota eviction in cluster mode: the evicting pod never deletes a blob a client of another pod
is reading; that client completes byte-exact; once nobody reads it, the blob goes."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

import aiohttp
from yarl import URL

from proxy.digest import Digest
from proxy.storage.layout import Layout
from tests.cluster.conftest import Pod, PodFactory
from tests.fakes.fake_http import FakeUpstream

MiB = 1 << 20


async def evict(session: aiohttp.ClientSession, pod: Pod) -> dict[str, Any]:
    async with session.post(pod.url / "v1" / "evict", headers=pod.admin) as r:
        assert r.status == 200, await r.text()
        report: dict[str, Any] = await r.json()
        return report


async def test_a_blob_read_on_another_pod_is_not_evicted(
        start_pods: PodFactory, upstream: tuple[FakeUpstream, URL], session: aiohttp.ClientSession,
        tmp_path: Path) -> None:
    fake, base = upstream
    body = os.urandom(48 * MiB)  # larger than the socket buffers: the reading pod stays mid-body
    fake.add("/slow", body)
    evictor, reader_pod = await start_pods(2, extra=("--disk-quota-bytes", str(MiB), "--eviction-interval", "3600",
                                                           "--fill-connections", "1"))
    blob = Layout(tmp_path / "cache").blob(Digest.of(body))

    async with session.get(evictor.fetch_url(base / "slow")) as r:  # cached through the evicting pod
        assert hashlib.sha256(await r.read()).digest() == hashlib.sha256(body).digest()
    assert blob.exists()

    async with session.get(reader_pod.fetch_url(base / "slow")) as reading:  # a hit on the other pod
        assert reading.headers["X-Cache"] == "hit"
        head = await reading.content.readexactly(MiB)
        report = await evict(session, evictor)
        assert (report["evicted"], report["in_use"]) == (0, 1), report
        assert blob.exists(), "the blob another pod is reading stays on the volume"
        rest = await reading.read()
    assert hashlib.sha256(head + rest).digest() == hashlib.sha256(body).digest()
    assert fake.count("/slow") == 1

    await reader_pod.signal(15)  # its claims go with it (a live pod's lapse at its next refresh)
    report = await evict(session, evictor)
    assert report["evicted"] == 1, report
    assert not blob.exists()
