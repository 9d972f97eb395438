"""The real ``modelmanager`` CLI driving a served proxy: prefetch with progress, pins, exit codes."""

from __future__ import annotations

import asyncio
import json
import os
import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from yarl import URL

from tests.e2e.test_cli import BIN, free_port, run, wait_healthy
from tests.fakes.fake_hub import FakeHub

TOKEN = "admin-s3cret"


@pytest.fixture
async def served(tmp_path: Path, hub: FakeHub) -> AsyncIterator[tuple[URL, Path]]:
    cache = tmp_path / "cache"
    port = free_port()
    proc = await asyncio.create_subprocess_exec(
        str(BIN), "serve", "--port", str(port), "--cache-dir", str(cache), "--node-id", "cli-node",
        "--hf-endpoint", str(hub.hub_url), "--admin-token", TOKEN, "--log-level", "warning",
        stderr=asyncio.subprocess.DEVNULL)
    url = URL(f"http://127.0.0.1:{port}")
    try:
        await wait_healthy(url, proc)
        yield url, cache
    finally:
        proc.terminate()
        await proc.wait()


async def cli(*args: str) -> tuple[int, str, str]:
    return await run(str(BIN), *args)


async def test_prefetch_progress_pins_and_exit_codes(served: tuple[URL, Path], hub: FakeHub) -> None:
    url, cache = served
    server = ("--server", str(url), "--admin-token", TOKEN)
    weights = os.urandom(3 << 20)
    commit = hub.create("org/model").commit({"config.json": b"{}", "model.safetensors": weights})

    code, out, err = await cli("prefetch", "hf://org/model", "--pin", *server)
    assert code == 0, err
    lines = out.strip().splitlines()
    assert "\x1b" not in out, "no terminal control codes when stdout is not a terminal"
    assert all(re.fullmatch(r"\[[0-9a-f]{16}\] \w+: \d+/\d+ files, .+/s", line) for line in lines[:-1]), lines
    assert re.search(r"succeeded: 2/2 files, 3\.0 MiB/3\.0 MiB", lines[-2])
    assert lines[-1].startswith(f"prefetched hf://org/model at {commit}: 2 files (0 already cached), 3.0 MiB")
    assert lines[-1].endswith(", pinned")
    assert len(hub.cdn_requests) == 1

    code, out, _ = await cli("ls", "--pinned", "--cache-dir", str(cache))
    assert code == 0
    assert out.splitlines() == [f"hf://org/model\t{commit}\toperator\texpires never"]

    code, out, err = await cli("prefetch", "hf://org/missing", *server)
    assert code == 1
    assert "failed" in out
    assert "error: hf://org/missing: upstream answered 401" in err

    code, _, err = await cli("prefetch", "hf://org/model", "--server", str(url))
    assert code == 1, "no admin token"
    assert "401" in err
    code, _, err = await cli("prefetch", "not-a-url", *server)
    assert (code, "400" in err) == (1, True)
    code, _, err = await cli("prefetch", "hf://org/model", "--server", f"http://127.0.0.1:{free_port()}")
    assert code == 3
    assert "cannot reach" in err

    code, out, err = await cli("jobs", *server)
    assert code == 0, err
    assert [j["state"] for j in json.loads(out)] == ["succeeded", "failed"]
    code, out, err = await cli("watch", "hf://org/model", "--interval", "3600", "--grace", "60", *server)
    assert code == 0, err
    assert (json.loads(out)["url"], json.loads(out)["interval"]) == ("hf://org/model", 3600)
    code, out, err = await cli("unwatch", "hf://org/model", *server)
    assert code == 0, err
    code, _, err = await cli("unwatch", "hf://org/model", *server)
    assert code == 1
    assert "not watched" in err

    code, out, err = await cli("unpin", "hf://org/model", *server)
    assert code == 0, err
    code, out, _ = await cli("ls", "--pinned", "--cache-dir", str(cache))
    assert (code, out) == (0, "")
    assert len(hub.cdn_requests) == 1


def read_all(fd: int) -> bytes:
    chunks = []
    while True:
        try:
            chunk = os.read(fd, 65536)
        except OSError:  # EIO: the terminal's other side closed
            break
        if not chunk:
            break
        chunks.append(chunk)
    return b"".join(chunks)


async def test_prefetch_on_a_terminal_draws_a_progress_bar(served: tuple[URL, Path], hub: FakeHub) -> None:
    url, _ = served
    hub.create("org/tty").commit({"model.safetensors": os.urandom(1 << 20)})
    leader, follower = os.openpty()
    proc = await asyncio.create_subprocess_exec(
        str(BIN), "prefetch", "hf://org/tty", "--server", str(url), "--admin-token", TOKEN,
        stdout=follower, stderr=asyncio.subprocess.PIPE, env={**os.environ, "COLUMNS": "120", "TERM": "xterm"})
    os.close(follower)
    shown = asyncio.ensure_future(asyncio.to_thread(read_all, leader))
    _, err = await proc.communicate()
    out = (await shown).decode(errors="replace")
    os.close(leader)
    assert proc.returncode == 0, err
    assert "━" in out, "a rich progress bar"
    assert "1/1 files" in out
    assert "prefetched hf://org/tty at" in out
