"""The CLI: download with --explain, ls and prune of the node tier."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path

from tests.client.conftest import Dirs, host
from tests.conftest import Proxy
from tests.fakes.fake_hub import FakeHub


async def cli(*args: str) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(sys.executable, "-m", "modelmanager_client", *args,
                                                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await proc.communicate()
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def test_download_explain_ls_prune(hf_proxy: Callable[..., Awaitable[Proxy]], hub: FakeHub,
                                         dirs: Dirs) -> None:
    proxy = await hf_proxy()
    data = os.urandom(100_000)
    hub.create("org/m").commit({"w.bin": data})
    code, out, err = await cli("--host", host(proxy), "--explain", "download", "org/m", "w.bin")
    assert code == 0, err
    assert Path(out.strip()).read_bytes() == data
    assert "explain: HF:model:org/m@main/w.bin: http (4 Range connections" in err
    code, out, err = await cli("--host", host(proxy), "--explain", "download", "org/m", "w.bin", "--local-dir",
                               str(dirs.tier.parent / "out"))
    assert code == 0, err
    assert "explain: HF:model:org/m@main/w.bin: node (node tier" in err
    code, out, _ = await cli("ls")
    assert code == 0
    assert str(len(data)) in out.replace(",", "")
    assert "links=3" in out  # node tier, HF cache, local dir: one inode
    code, out, _ = await cli("prune", "--max-bytes", "0")
    assert (code, out.strip()) == (0, f"removed 1 blobs ({len(data):,} bytes); kept 0 (0 bytes)")


async def test_refused_download_exits_non_zero_with_the_reason(hf_proxy: Callable[..., Awaitable[Proxy]],
                                                               hub: FakeHub) -> None:
    proxy = await hf_proxy()
    hub.create("org/private", private=True).commit({"w.bin": b"secret"})
    code, out, err = await cli("--host", host(proxy), "download", "org/private", "w.bin")
    assert code == 1
    assert out == ""
    assert "401 RepoNotFound" in err
