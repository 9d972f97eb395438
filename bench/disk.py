"""The cache volume's own speed: concurrent sequential writes that end with fsync, as a fill does."""

from __future__ import annotations

import os
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

BLOCK = 8 << 20


def _write_fsync(path: Path, size: int, block: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    try:
        left = size
        while left:
            left -= os.write(fd, block[: min(len(block), left)])
        os.fsync(fd)
    finally:
        os.close(fd)


def write_fsync_speed(directory: Path, streams: int, size: int) -> float:
    """Bytes per second for ``streams`` threads each writing ``size`` bytes to a new file and
    fsyncing it, all at once (the files are deleted afterwards)."""
    block = os.urandom(BLOCK)
    paths = [directory / f"disk-probe-{i}" for i in range(streams)]
    started = time.perf_counter()
    try:
        with ThreadPoolExecutor(max_workers=streams) as pool:
            list(pool.map(lambda p: _write_fsync(p, size, block), paths))
        return streams * size / (time.perf_counter() - started)
    finally:
        for p in paths:
            p.unlink(missing_ok=True)
