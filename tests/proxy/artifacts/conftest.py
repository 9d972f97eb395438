"""A ``start_worker`` fixture: real ``modelmanager build-worker`` processes."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.proxy.artifacts.workers import WorkerFactory, worker_pool


@pytest.fixture
async def start_worker(tmp_path: Path) -> AsyncIterator[WorkerFactory]:
    async with worker_pool(tmp_path) as start:
        yield start
