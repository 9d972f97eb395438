"""Temp files other nodes left on the cache volume (a pod killed mid-fill, a fill handed over that
no pod took up) are removed once nobody has written them for the configured age; files being
written, this node's own files and every directory stay."""

from __future__ import annotations

import os
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from proxy import appkeys
from proxy.storage.blobstore import FsBlobStore
from proxy.storage.layout import Layout
from tests.conftest import Proxy
from tests.control import call, until

DAY = 86400.0


def left(path: Path, data: bytes, age: float, now: float) -> Path:
    """A file last written ``age`` seconds before ``now``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    os.utime(path, (now - age, now - age))
    return path


def test_only_other_nodes_files_older_than_the_age_go(tmp_path: Path) -> None:
    now = time.time()
    layout = Layout(tmp_path / "cache")
    store = FsBlobStore(layout, "pod-a")
    dead = left(layout.tmp("pod-gone") / "fill-0123456789abcdef01234567", b"x" * 1000, 2 * DAY, now)
    relay = left(layout.tmp("pod-gone") / "relay-pod-gone-0011", b"y" * 10, 2 * DAY, now)
    growing = left(layout.tmp("pod-b") / "fill-aaaaaaaaaaaaaaaaaaaaaaaa", b"z", 60, now)
    own = left(layout.tmp("pod-a") / "fill-bbbbbbbbbbbbbbbbbbbbbbbb", b"w", 2 * DAY, now)
    scratch = layout.tmp("pod-gone") / "scratch"
    scratch.mkdir()
    os.utime(scratch, (now - 2 * DAY, now - 2 * DAY))

    swept = store.sweep_abandoned(now, DAY)

    assert (swept.files, swept.size) == (2, 1010)
    assert not dead.exists()
    assert not relay.exists()
    assert growing.exists(), "a file written a minute ago belongs to a running fill"
    assert own.exists(), "a node's own files are its own to sweep (when it starts)"
    assert scratch.is_dir()
    assert layout.tmp("pod-gone").is_dir(), "directories stay: an idle node that lives needs its own"
    assert store.sweep_abandoned(now, DAY).files == 0


def test_an_empty_volume_has_nothing_to_sweep(tmp_path: Path) -> None:
    store = FsBlobStore(Layout(tmp_path / "cache"), "pod-a")
    assert store.sweep_abandoned(time.time(), DAY).files == 0


async def test_an_eviction_pass_reports_what_it_swept(start_proxy: Callable[..., Awaitable[Proxy]],
                                                     cache_dir: Path) -> None:
    layout = Layout(cache_dir)
    older = left(layout.tmp("pod-older") / "fill-000000000000000000000000", b"o", 2 * DAY, time.time())
    proxy = await start_proxy(abandoned_tmp_age=3600)  # no quota: the sweep runs at start, then every 15 min
    metrics = proxy.app[appkeys.METRICS]
    await until(lambda: metrics.value("modelmanager_abandoned_tmp_files_total") == 1)  # the start's sweep is over
    assert not older.exists()
    now = time.time()
    dead = left(layout.tmp("pod-gone") / "fill-0123456789abcdef01234567", b"x" * 4096, 7200, now)
    recent = left(layout.tmp("pod-gone") / "fill-abcdefabcdefabcdefabcdef", b"x", 600, now)
    report = await call(proxy, "POST", "/v1/evict", expect=200)
    assert (report["abandoned_files"], report["abandoned_bytes"]) == (1, 4096)
    assert not dead.exists()
    assert recent.exists()
    assert metrics.value("modelmanager_abandoned_tmp_files_total") == 2
    assert metrics.value("modelmanager_abandoned_tmp_bytes_total") == 4096 + 1


async def test_without_a_quota_the_proxy_sweeps_when_it_starts(
        start_proxy: Callable[..., Awaitable[Proxy]], cache_dir: Path) -> None:
    dead = left(Layout(cache_dir).tmp("pod-gone") / "fill-0123456789abcdef01234567", b"x" * 100, 2 * DAY, time.time())
    proxy = await start_proxy()
    metrics = proxy.app[appkeys.METRICS]
    await until(lambda: metrics.value("modelmanager_abandoned_tmp_files_total") == 1)
    assert not dead.exists()
