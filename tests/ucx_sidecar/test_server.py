"""The sidecar end to end, over real UCX (cma and tcp on loopback): byte-exact ranges of committed
blobs, and refusals (unknown, uncommitted or corrupt digests, ranges outside the blob, a wrong
cluster secret on either side)."""

from __future__ import annotations

import asyncio
import os
import shutil

import pytest

from modelmanager_client.ranged import read_all
from modelmanager_client.ucx import wire
from modelmanager_client.ucx.config import UcxConfig
from modelmanager_client.ucx.source import UcxRanges
from modelmanager_client.ucx.wire import WireError, parse_address
from proxy.digest import Digest
from tests.client.conftest import blocking
from tests.fakes.fake_hub import FakeHub
from tests.ucx_sidecar.conftest import Committed, commit
from tests.ucx_sidecar.process import ENGINES, SECRET, needs_ucxx, set_ucx_env, sidecar

pytestmark = pytest.mark.usefixtures("ucx_env")


@pytest.fixture
def ucx_env(monkeypatch: pytest.MonkeyPatch) -> None:
    set_ucx_env(monkeypatch)


def config(address: str, engine: str = "ucxx", secret: str = SECRET) -> UcxConfig:
    return UcxConfig(parse_address(address), secret, engine, timeout=20.0)


def pull(source: UcxRanges, workers: int = 2) -> bytes:
    into = bytearray(source.size)
    read_all(source, memoryview(into), workers)
    return bytes(into)


@pytest.mark.parametrize("engine", ENGINES)
async def test_a_committed_blob_arrives_byte_exact_in_host_memory(committed: Committed, engine: str) -> None:
    with sidecar(committed.cache, engines=engine) as side:
        source = await blocking(UcxRanges, config(side.address, engine), committed.digest, len(committed.data))
        try:
            assert await blocking(pull, source) == committed.data
            part = bytearray(1000)  # a range that starts and ends inside the blob
            await blocking(source.read_into, 12345, memoryview(part))
            assert bytes(part) == committed.data[12345:13345]
        finally:
            source.close()


@needs_ucxx
async def test_unknown_uncommitted_and_corrupt_blobs_and_bad_ranges_are_refused(committed: Committed) -> None:
    cache = committed.cache
    stray = os.urandom(1 << 20)  # a file under blobs/ that no index record names: not committed
    stray_digest = Digest.of(stray).hex
    (cache / "blobs" / stray_digest[:2]).mkdir(exist_ok=True)
    (cache / "blobs" / stray_digest[:2] / stray_digest).write_bytes(stray)
    blob = cache / "blobs" / committed.digest[:2] / committed.digest
    shutil.copyfile(blob, cache.parent / "original")
    os.chmod(blob, 0o644)
    with blob.open("r+b") as file:  # committed, but its bytes no longer match the digest
        file.seek(len(committed.data) // 2)
        file.write(b"\x00" if committed.data[len(committed.data) // 2] else b"\x01")
    with sidecar(cache) as side:
        async def refused(digest: str, size: int, offset: int = 0, length: int = 100) -> str:
            source = await blocking(UcxRanges, config(side.address), digest, size)
            try:
                with pytest.raises(WireError) as caught:
                    await blocking(source.read_into, offset, memoryview(bytearray(length)))
            finally:
                source.close()
            return str(caught.value)

        assert "is not committed" in await refused("ab" * 32, 100)
        assert "is not committed" in await refused(stray_digest, len(stray))
        assert "not a blake3 digest" in await refused("../../cluster-secret", 100)
        assert "failed verification" in await refused(committed.digest, len(committed.data))
        shutil.copyfile(cache.parent / "original", blob)  # repaired: served again
        source = await blocking(UcxRanges, config(side.address), committed.digest, len(committed.data))
        try:
            assert "outside the blob" in await refused(committed.digest, len(committed.data),
                                                       len(committed.data) - 10, 100)
            assert await blocking(pull, source) == committed.data
        finally:
            source.close()


@needs_ucxx
async def test_a_wrong_cluster_secret_is_refused(committed: Committed) -> None:
    with sidecar(committed.cache) as side, pytest.raises(WireError, match="authentication failed"):
        await blocking(UcxRanges, config(side.address, secret="not-the-secret"), committed.digest,
                       len(committed.data))


async def test_a_sidecar_that_cannot_prove_the_secret_is_not_used() -> None:
    """A listener that accepts any client (it does not know the secret) gets no request."""
    requests: list[bytes] = []

    async def impostor(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(wire.encode({"v": wire.VERSION, "nonce": wire.nonce(), "engines": ["ucxx"]}))
        await reader.readline()
        writer.write(wire.encode({"ok": True, "mac": wire.mac("a guess", "sidecar", "0" * 64)}))
        requests.append(await reader.readline())
        writer.close()

    server = await asyncio.start_server(impostor, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with server:
        with pytest.raises(WireError, match="did not prove"):
            await blocking(UcxRanges, config(f"127.0.0.1:{port}"), "ab" * 32, 10)
    assert requests in ([], [b""])  # the client hung up without asking for anything


async def login(address: str, secret: str = SECRET) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    host, port = parse_address(address)
    reader, writer = await asyncio.open_connection(host, port, limit=wire.MAX_LINE)
    greeting = wire.decode(await reader.readline())
    mine = wire.nonce()
    writer.write(wire.encode({"op": "hello", "mac": wire.mac(secret, "client", greeting["nonce"]), "nonce": mine}))
    answer = wire.decode(await reader.readline())
    assert wire.mac_ok(secret, "sidecar", mine, answer["mac"])
    return reader, writer


async def ask(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, line: bytes) -> dict[str, object]:
    writer.write(line)
    return wire.decode(await reader.readline())


@needs_ucxx
async def test_hostile_requests_are_refused_and_the_sidecar_keeps_serving(committed: Committed) -> None:
    good = {"op": "get", "digest": committed.digest, "offset": 0, "length": 10, "engine": "ucxx", "tag": 7,
            "address": "AAAA"}
    with sidecar(committed.cache) as side:
        reader, writer = await login(side.address)
        refusals = {
            "offset and length must be integers": {**good, "offset": "0"},
            "outside the blob": {**good, "offset": -1},
            "is not offered": {**good, "engine": "nixl"},
            "unknown op": {**good, "op": "put"},
            "positive 63-bit tag": {**good, "tag": 0},
            "worker address": {**good, "address": 5},
            "cannot reach the client's worker": good,  # not a worker address
        }
        for reason, request in refusals.items():
            answer = await ask(reader, writer, wire.encode(request))
            assert reason in str(answer["error"])
        with pytest.raises(wire.WireError, match="connection closed"):  # a line over the limit ends the connection
            await ask(reader, writer, b"x" * (wire.MAX_LINE + 10) + b"\n")
        writer.close()
        raw_reader, raw_writer = await asyncio.open_connection(*parse_address(side.address))
        await raw_reader.readline()
        with pytest.raises(wire.WireError, match="connection closed"):  # garbage instead of the hello
            await ask(raw_reader, raw_writer, b"not json\n")
        raw_writer.close()
        source = await blocking(UcxRanges, config(side.address), committed.digest, len(committed.data))
        try:
            assert await blocking(pull, source) == committed.data
        finally:
            source.close()
        assert side.process.poll() is None


@needs_ucxx
async def test_a_blob_committed_after_the_sidecar_started_is_served(committed: Committed, hub: FakeHub) -> None:
    with sidecar(committed.cache) as side:
        later = await commit(committed.proxy, hub, committed.cache, os.urandom(3 << 20), "org/later", "w.bin")
        source = await blocking(UcxRanges, config(side.address), later.digest, len(later.data))
        try:
            assert await blocking(pull, source) == later.data
        finally:
            source.close()
