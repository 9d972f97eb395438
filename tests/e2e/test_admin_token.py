"""The admin token an operator never set: ``modelmanager serve`` generates it on the cache volume
(mode 0600), and the CLI finds it there by itself; without it, the control API refuses."""

from __future__ import annotations

import asyncio
import json
import stat
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from yarl import URL

from tests.e2e.test_cli import BIN, free_port, run, wait_healthy


@pytest.fixture
async def served(tmp_path: Path) -> AsyncIterator[tuple[URL, Path]]:
    cache = tmp_path / "cache"
    port = free_port()
    proc = await asyncio.create_subprocess_exec(
        str(BIN), "serve", "--port", str(port), "--cache-dir", str(cache), "--node-id", "token-node",
        "--log-level", "warning", stderr=asyncio.subprocess.DEVNULL)
    url = URL(f"http://127.0.0.1:{port}")
    try:
        await wait_healthy(url, proc)
        yield url, cache
    finally:
        proc.terminate()
        await proc.wait()


async def test_generated_token_is_private_and_found_by_the_cli(served: tuple[URL, Path], tmp_path: Path) -> None:
    url, cache = served
    token_file = cache / "admin-token"
    assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
    token = token_file.read_text().strip()

    code, out, err = await run(str(BIN), "jobs", "--server", str(url), "--cache-dir", str(cache))
    assert code == 0, err
    assert json.loads(out) == []

    code, _, err = await run(str(BIN), "jobs", "--server", str(url), "--cache-dir", str(tmp_path / "elsewhere"))
    assert code == 1
    assert "401" in err
    assert not (tmp_path / "elsewhere").exists(), "reading the token never creates a cache directory"

    async with aiohttp.ClientSession() as session:
        for headers, want in (({}, 401), ({"Authorization": token}, 401),
                              ({"Authorization": f"Bearer {token}"}, 200)):
            async with session.get(url / "v1" / "status", headers=headers) as r:
                assert r.status == want, headers
