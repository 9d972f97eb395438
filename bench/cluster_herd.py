"""Cluster herd: 3 pods + Redis on one shared cache dir, 3 x 16 clients on one cold file.

    .venv/bin/python -m bench.cluster_herd [--size-mib 256] [--rate-mib 100] [--clients-per-pod 16]

Prints upstream bytes / file size (1.00 means fetched once for the cluster), the time until every
client has the whole file (every body checked with blake3), and one direct download from the
throttled upstream for comparison. Self-contained: the throttled upstream runs in a child process
(``--serve-upstream``), the pods are ``modelmanager serve`` processes, Redis a private redis-server.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import BinaryIO

import aiohttp
import blake3
from aiohttp import web

MIB = 1 << 20


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _body(size: int) -> bytes:
    rng = random.Random(20260101)
    return b"".join(rng.randbytes(min(MIB, size - pos)) for pos in range(0, size, MIB))


def serve_upstream(port: int, size: int, rate: float) -> None:
    """The upstream: one file at /model.bin, ``rate`` bytes/s per response, counting bytes sent."""
    body = _body(size)
    sent = {"bytes": 0, "gets": 0}

    async def model(request: web.Request) -> web.StreamResponse:
        start = 0
        if rng := request.headers.get("Range"):
            start = int(rng.removeprefix("bytes=").split("-")[0])
        sent["gets"] += 1
        response = web.StreamResponse(status=206 if start else 200, headers={"ETag": '"bench"'})
        response.content_length = size - start
        if start:
            response.headers["Content-Range"] = f"bytes {start}-{size - 1}/{size}"
        await response.prepare(request)
        loop = asyncio.get_running_loop()
        began, pos = loop.time(), start
        while pos < size:
            end = min(size, pos + MIB)
            await response.write(body[pos:end])
            sent["bytes"] += end - pos
            pos = end
            ahead = (pos - start) / rate - (loop.time() - began)
            if ahead > 0:
                await asyncio.sleep(ahead)
        await response.write_eof()
        return response

    async def stats(request: web.Request) -> web.Response:
        return web.json_response(sent)

    app = web.Application()
    app.router.add_get("/model.bin", model)
    app.router.add_get("/stats", stats)
    web.run_app(app, host="127.0.0.1", port=port, print=None)


def _spawn(argv: list[str], logs: BinaryIO) -> subprocess.Popen[bytes]:
    return subprocess.Popen(argv, stdout=logs, stderr=logs)


async def _wait_ok(session: aiohttp.ClientSession, url: str, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"{proc.args!r} exited with {proc.returncode}")
        try:
            async with session.get(url) as r:
                if r.status == 200:
                    return
        except aiohttp.ClientConnectionError:
            pass
        await asyncio.sleep(0.05)  # not listening yet
    raise SystemExit(f"{url} did not answer")


async def _download(session: aiohttp.ClientSession, url: str) -> str:
    hasher = blake3.blake3()
    async with session.get(url) as r:
        r.raise_for_status()
        async for chunk in r.content.iter_chunked(MIB):
            hasher.update(chunk)
    return str(hasher.hexdigest())


async def run(size: int, rate: float, per_pod: int, workdir: Path) -> None:
    redis_bin = shutil.which("redis-server") or "/usr/bin/redis-server"
    modelmanager = str(Path(sys.executable).parent / "modelmanager")
    up_port, redis_port = _free_port(), _free_port()
    procs: list[subprocess.Popen[bytes]] = []
    logs = open(workdir / "processes.log", "wb")  # noqa: SIM115 - closed below
    try:
        procs.append(_spawn([sys.executable, "-m", "bench.cluster_herd", "--serve-upstream", str(up_port),
                             "--size-mib", str(size // MIB), "--rate-mib", str(rate / MIB)], logs))
        procs.append(_spawn([redis_bin, "--port", str(redis_port), "--save", "", "--appendonly", "no"], logs))
        pods = []
        for i in range(3):
            port = _free_port()
            pods.append(f"http://127.0.0.1:{port}")
            procs.append(_spawn(
                [modelmanager, "serve", "--port", str(port), "--cache-dir", str(workdir / "cache"),
                 "--node-id", f"pod-{i}", "--advertise-url", pods[-1], "--redis-url",
                 f"redis://127.0.0.1:{redis_port}/0", "--http-allow", f"127.0.0.1:{up_port}",
                 "--log-level", "warning"], logs))
        upstream = f"http://127.0.0.1:{up_port}"
        want = str(blake3.blake3(_body(size)).hexdigest())
        timeout = aiohttp.ClientTimeout(total=900)
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0), timeout=timeout,
                                         auto_decompress=False) as session:
            await _wait_ok(session, f"{upstream}/stats", procs[0])
            for pod, proc in zip(pods, procs[2:], strict=True):
                await _wait_ok(session, f"{pod}/healthz", proc)
            target = f"{upstream}/model.bin"
            began = time.monotonic()
            digests = await asyncio.gather(*(_download(session, f"{pod}/v1/fetch?url={target}")
                                             for _ in range(per_pod) for pod in pods))
            herd = time.monotonic() - began
            async with session.get(f"{upstream}/stats") as r:
                stats = await r.json()
            began = time.monotonic()
            direct_ok = await _download(session, target) == want
            direct = time.monotonic() - began
        ok = sum(d == want for d in digests)
        print(f"file: {size / MIB:.0f} MiB, upstream throttled to {rate / MIB:.0f} MiB/s per response, "
              f"3 pods x {per_pod} clients")
        print(f"upstream bytes / file size (herd): {stats['bytes'] / size:.2f}  ({stats['gets']} upstream GETs)")
        print(f"all {len(digests)} clients done in: {herd:.2f} s  ({ok}/{len(digests)} bodies byte-exact)")
        print(f"single direct download from upstream: {direct:.2f} s  (byte-exact: {direct_ok})")
    finally:
        for proc in reversed(procs):
            proc.terminate()
        for proc in procs:
            proc.wait(timeout=20)  # shutting down: nothing else runs
        logs.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--size-mib", type=int, default=256)
    parser.add_argument("--rate-mib", type=float, default=100.0)
    parser.add_argument("--clients-per-pod", type=int, default=16)
    parser.add_argument("--serve-upstream", type=int, metavar="PORT", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_upstream:
        serve_upstream(args.serve_upstream, args.size_mib * MIB, args.rate_mib * MIB)
        return
    with tempfile.TemporaryDirectory(prefix="cluster-herd-") as tmp:
        asyncio.run(run(args.size_mib * MIB, args.rate_mib * MIB, args.clients_per_pod, Path(tmp)))


if __name__ == "__main__":
    main()
