"""Client fixtures: an isolated node tier and HF cache per test, the Hub emulator, the proxy (in
this process; the client's blocking calls run in a thread so the proxy's loop keeps serving)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import ParamSpec, TypeVar

import pytest

from tests.conftest import Proxy
from tests.fakes.s3_servers import MotoServer

P = ParamSpec("P")
T = TypeVar("T")

CLIENT_ENV = ("MODELMANAGER_URL", "MODELMANAGER_CACHE_MOUNT", "MODELMANAGER_CLIENT_CACHE",
              "MODELMANAGER_CLIENT_CONNECTIONS", "HF_HOME", "HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE", "HF_TOKEN",
              "HF_HUB_OFFLINE", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")


@dataclass(frozen=True)
class Dirs:
    tier: Path
    """The node tier (MODELMANAGER_CLIENT_CACHE)."""
    hf: Path
    """The HF cache (HF_HUB_CACHE)."""


@pytest.fixture(autouse=True)
def dirs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Dirs:
    for name in CLIENT_ENV:
        monkeypatch.delenv(name, raising=False)
    d = Dirs(tmp_path / "node-tier", tmp_path / "hf-home" / "hub")
    monkeypatch.setenv("MODELMANAGER_CLIENT_CACHE", str(d.tier))
    monkeypatch.setenv("HF_HOME", str(d.hf.parent))
    monkeypatch.setenv("MODELMANAGER_CACHE_MOUNT", "")  # no hand-off unless a test asks for it
    monkeypatch.setenv("MODELMANAGER_CLIENT_CONNECTIONS", "4")
    return d


async def blocking(fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    """Run a blocking client call in a thread: the in-process proxy shares this event loop."""
    return await asyncio.to_thread(fn, *args, **kwargs)


def host(proxy: Proxy) -> str:
    return str(proxy.server.make_url("")).rstrip("/")


@pytest.fixture(scope="session")
def moto() -> Iterator[MotoServer]:
    with MotoServer() as server:
        yield server
