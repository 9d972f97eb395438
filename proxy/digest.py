"""Digest value types: the blake3 content address, and upstream checksums we verify against."""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Literal, Protocol

import blake3
import google_crc32c
from pydantic import GetCoreSchemaHandler
from pydantic_core import core_schema

from proxy.errors import InvalidDigest

_HEX64 = re.compile(r"[0-9a-f]{64}")

ChecksumAlgorithm = Literal["sha256", "md5", "sha1", "git-sha1", "crc32c"]
"""``git-sha1`` is git's blob id: sha1 over ``b"blob <size>\\0"`` then the bytes. ``crc32c`` is the
Castagnoli CRC (Google Cloud Storage's), as 8 hex digits of its big-endian 4 bytes."""
_HEX_LENGTHS: dict[ChecksumAlgorithm, int] = {"sha256": 64, "md5": 32, "sha1": 40, "git-sha1": 40, "crc32c": 8}


@dataclass(frozen=True, slots=True, order=True)
class Digest:
    """A blob's content address: the blake3 hash of its bytes, 64 lowercase hex characters."""

    hex: str

    def __post_init__(self) -> None:
        if not _HEX64.fullmatch(self.hex):
            raise InvalidDigest(f"not a blake3 digest: {self.hex[:80]!r}")

    @classmethod
    def parse(cls, text: str) -> Digest:
        """Accept ``blake3:<hex>`` or bare ``<hex>``; raise InvalidDigest for anything else."""
        return cls(text.removeprefix("blake3:"))

    @classmethod
    def of(cls, data: bytes) -> Digest:
        return cls(blake3.blake3(data).hexdigest())

    def __str__(self) -> str:
        return f"blake3:{self.hex}"

    @classmethod
    def __get_pydantic_core_schema__(cls, source: Any, handler: GetCoreSchemaHandler) -> core_schema.CoreSchema:
        """In pydantic models (records): ``blake3:<hex>`` as text, parsed with ``parse``."""
        return core_schema.no_info_after_validator_function(
            cls.parse, core_schema.str_schema(), serialization=core_schema.to_string_ser_schema())


@dataclass(frozen=True, slots=True)
class Checksum:
    """A checksum an upstream published for an object (sha256, md5, sha1, crc32c), lowercase hex."""

    algorithm: ChecksumAlgorithm
    hex: str

    def __post_init__(self) -> None:
        want = _HEX_LENGTHS[self.algorithm]
        if len(self.hex) != want or not all(c in "0123456789abcdef" for c in self.hex):
            raise InvalidDigest(f"not a {self.algorithm} hex digest: {self.hex[:80]!r}")

    @classmethod
    def from_base64(cls, algorithm: ChecksumAlgorithm, text: str) -> Checksum:
        try:
            raw = base64.b64decode(text, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise InvalidDigest(f"bad base64 {algorithm} checksum") from exc
        return cls(algorithm, raw.hex())


class _Hasher(Protocol):
    def update(self, data: bytes | memoryview, /) -> object: ...
    def hexdigest(self) -> str: ...


class _Crc32c:
    """CRC32C as a hasher, over google-crc32c (its C extension where the wheel has one)."""

    def __init__(self) -> None:
        self._crc = google_crc32c.Checksum()  # type: ignore[no-untyped-call]

    def update(self, data: bytes | memoryview, /) -> object:
        self._crc.update(bytes(data) if isinstance(data, memoryview) else data)  # type: ignore[no-untyped-call]
        return None

    def hexdigest(self) -> str:
        return bytes(self._crc.digest()).hex()  # type: ignore[no-untyped-call]


PARALLEL_MIN = 1 << 20
"""Updates at least this large hash the upstream checksums in parallel with blake3."""
_POOL = ThreadPoolExecutor(max_workers=4, thread_name_prefix="hashing")


class Hashing:
    """Running hashes over a stream: always blake3, plus each algorithm an upstream checksum names.

    ``git-sha1`` needs the size up front (git hashes a header first); without it, it is skipped
    and ``checksum("git-sha1")`` raises KeyError.
    """

    def __init__(self, algorithms: set[ChecksumAlgorithm] | frozenset[ChecksumAlgorithm] = frozenset(),
                 size: int | None = None):
        # blake3 spreads one large update (a segmented fill hashes 8 MiB at a time) over cores
        self._blake3 = blake3.blake3(max_threads=blake3.blake3.AUTO)
        self._others: dict[ChecksumAlgorithm, _Hasher] = {}
        for algorithm in sorted(algorithms):
            if algorithm == "crc32c":
                self._others[algorithm] = _Crc32c()
            elif algorithm != "git-sha1":
                self._others[algorithm] = hashlib.new(algorithm)
            elif size is not None:
                self._others[algorithm] = hashlib.sha1(b"blob %d\x00" % size)

    def update(self, data: bytes | memoryview) -> None:
        if len(data) < PARALLEL_MIN or not self._others:
            self._blake3.update(data)
            for hasher in self._others.values():
                hasher.update(data)
            return
        # Large steps (a segmented fill hashes 8 MiB at a time): the other hashes run beside
        # blake3 in threads (hashlib releases the GIL), each still over every byte in order.
        others = [_POOL.submit(hasher.update, data) for hasher in self._others.values()]
        self._blake3.update(data)
        for future in others:
            future.result()

    def digest(self) -> Digest:
        return Digest(self._blake3.hexdigest())

    def checksum(self, algorithm: ChecksumAlgorithm) -> Checksum:
        return Checksum(algorithm, self._others[algorithm].hexdigest())
