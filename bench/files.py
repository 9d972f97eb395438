"""Test files: random bytes (os.urandom) in a temp directory under /tmp, with their blake3 digests."""

from __future__ import annotations

import ctypes
import mmap
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import blake3

BLOCK = 8 << 20
MiB = 1 << 20
GiB = 1 << 30


@dataclass(frozen=True, slots=True)
class TestFile:
    name: str
    path: Path
    size: int
    blake3: str
    """Hex digest of the content; the proxy names its blobs by the same hash."""


def _write_random(path: Path, size: int) -> TestFile:
    hasher = blake3.blake3()
    with open(path, "wb") as out:
        left = size
        while left:
            block = os.urandom(min(BLOCK, left))
            out.write(block)
            hasher.update(block)
            left -= len(block)
    return TestFile(path.name, path, size, hasher.hexdigest())


def make_files(directory: Path, specs: list[tuple[str, int]]) -> dict[str, TestFile]:
    """Write ``(name, size)`` files of random bytes; os.urandom releases the GIL, so use threads."""
    with ThreadPoolExecutor(max_workers=max(1, min(len(specs), os.cpu_count() or 1))) as pool:
        made = list(pool.map(lambda spec: _write_random(directory / spec[0], spec[1]), specs))
    return {f.name: f for f in made}


def read_through(path: Path) -> None:
    """Read a file once so that its pages are in the page cache."""
    with open(path, "rb", buffering=0) as f:
        while f.read(BLOCK):
            pass


def in_page_cache(path: Path) -> float:
    """Fraction of a file's pages resident in the page cache (mmap + mincore), 0.0 to 1.0."""
    size = path.stat().st_size
    if size == 0:
        return 1.0
    libc = ctypes.CDLL(None, use_errno=True)
    libc.mmap.restype = ctypes.c_void_p
    libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_long]
    libc.munmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
    libc.mincore.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_void_p]
    page = os.sysconf("SC_PAGE_SIZE")
    pages = (size + page - 1) // page
    vec = (ctypes.c_ubyte * pages)()
    fd = os.open(path, os.O_RDONLY)
    try:
        address = libc.mmap(None, size, mmap.PROT_READ, mmap.MAP_SHARED, fd, 0)
        if address in (None, ctypes.c_void_p(-1).value):
            raise OSError(ctypes.get_errno(), "mmap failed")
        try:
            if libc.mincore(address, size, vec) != 0:
                raise OSError(ctypes.get_errno(), "mincore failed")
        finally:
            libc.munmap(address, size)
    finally:
        os.close(fd)
    return sum(v & 1 for v in bytes(vec)) / pages
