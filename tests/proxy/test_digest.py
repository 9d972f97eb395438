from __future__ import annotations

import hashlib
import os

import blake3
import pytest

from proxy.digest import Checksum, Digest, Hashing
from proxy.errors import InvalidDigest


def test_digest_parse_and_format() -> None:
    d = Digest.of(b"abc")
    assert d.hex == blake3.blake3(b"abc").hexdigest()
    assert Digest.parse(str(d)) == d == Digest.parse(d.hex)
    assert str(d) == f"blake3:{d.hex}"


@pytest.mark.parametrize("text", ["", "abc", "G" * 64, "A" * 64, "0" * 63, "0" * 65, "../" + "0" * 61,
                                  "sha256:" + "0" * 64])
def test_bad_digests_are_refused(text: str) -> None:
    with pytest.raises(InvalidDigest):
        Digest.parse(text)


def test_checksums() -> None:
    assert Checksum("md5", hashlib.md5(b"x").hexdigest()).algorithm == "md5"
    with pytest.raises(InvalidDigest):
        Checksum("sha256", "00")
    with pytest.raises(InvalidDigest):
        Checksum.from_base64("md5", "not base64!")


def test_hashing_runs_every_algorithm_asked_for() -> None:
    h = Hashing({"sha256", "md5"})
    h.update(b"hello ")
    h.update(b"world")
    assert h.digest() == Digest.of(b"hello world")
    assert h.checksum("sha256").hex == hashlib.sha256(b"hello world").hexdigest()
    assert h.checksum("md5").hex == hashlib.md5(b"hello world").hexdigest()


def test_large_updates_hash_every_algorithm_in_order() -> None:
    data = [os.urandom(3 << 20), os.urandom(5), os.urandom(2 << 20)]  # parallel, serial, parallel
    hashing = Hashing({"sha256", "md5"})
    for part in data:
        hashing.update(memoryview(part))
    whole = b"".join(data)
    assert hashing.digest() == Digest.of(whole)
    assert hashing.checksum("sha256").hex == hashlib.sha256(whole).hexdigest()
    assert hashing.checksum("md5").hex == hashlib.md5(whole).hexdigest()


def test_crc32c_is_the_castagnoli_crc_in_big_endian_hex() -> None:
    # RFC 3720 (iSCSI) B.4: 32 bytes of zeros -> 0x8a9136aa; GCS reports it base64, big-endian
    hashing = Hashing({"crc32c"})
    hashing.update(bytes(32))
    assert hashing.checksum("crc32c") == Checksum("crc32c", "8a9136aa")
    assert Checksum.from_base64("crc32c", "ipE2qg==") == Checksum("crc32c", "8a9136aa")
    with pytest.raises(InvalidDigest):
        Checksum("crc32c", "8a9136a")


def test_crc32c_over_large_and_memoryview_updates_matches_one_pass() -> None:
    data = [os.urandom(3 << 20), os.urandom(5), os.urandom(2 << 20)]
    parts = Hashing({"crc32c", "md5"})
    for part in data:
        parts.update(memoryview(part))
    whole = Hashing({"crc32c"})
    whole.update(b"".join(data))
    assert parts.checksum("crc32c") == whole.checksum("crc32c")
    assert parts.checksum("md5").hex == hashlib.md5(b"".join(data)).hexdigest()
