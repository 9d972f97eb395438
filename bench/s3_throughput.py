"""Throughput of one 200 MB object: straight from the upstream, through a cold proxy, through a warm one.

    python -m bench.s3_throughput [--size-mb 200] [--runs 2] [--upstream seaweedfs|moto]

The upstream (SeaweedFS ``weed mini`` when installed, else moto) and the proxy
(``modelmanager serve``, its own process) run on loopback. Each run uploads the object under a fresh
key, so "cold" is a real miss; "warm" reads the same key again. Two client shapes: a single-stream
``get_object`` read in 1 MiB chunks, and boto3's ``download_file`` (8 MiB ranges, 10 threads).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config

from tests.fakes.s3_servers import ACCESS_KEY, SECRET_KEY, MotoServer, SeaweedServer, free_port

MB = 1_000_000


def client(endpoint: str) -> Any:
    return boto3.session.Session().client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id=ACCESS_KEY,
        aws_secret_access_key=SECRET_KEY,
        region_name="us-east-1",
        config=Config(max_pool_connections=16),
    )


@contextmanager
def proxy(upstream: str, cache_dir: Path) -> Iterator[str]:
    port = free_port()
    command = [
        sys.executable,
        "-m",
        "proxy",
        "serve",
        f"--port={port}",
        f"--cache-dir={cache_dir}",
        f"--s3-upstream-endpoint={upstream}",
        f"--s3-upstream-access-key-id={ACCESS_KEY}",
        f"--s3-upstream-secret-access-key={SECRET_KEY}",
        f"--s3-client-keys={ACCESS_KEY}:{SECRET_KEY}",
        "--log-level=warning",
    ]
    process = subprocess.Popen(command, stderr=subprocess.PIPE, text=True)
    endpoint = f"http://127.0.0.1:{port}/s3"
    try:
        _wait_listening(port, process)
        yield endpoint
    finally:
        process.terminate()
        process.wait(timeout=30)


def _wait_listening(port: int, process: subprocess.Popen[str]) -> None:
    import socket

    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:  # a benchmark, not a test: a short connect loop is fine here
        if process.poll() is not None:
            raise RuntimeError(f"proxy exited: {process.stderr.read() if process.stderr else ''}")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError("proxy did not start")


def single_stream(c: Any, bucket: str, key: str, out: Path) -> None:
    body = c.get_object(Bucket=bucket, Key=key)["Body"]
    for _ in body.iter_chunks(1 << 20):
        pass


def download_file(c: Any, bucket: str, key: str, out: Path) -> None:
    c.download_file(bucket, key, str(out))


def timed(fn: Callable[[Any, str, str, Path], None], c: Any, bucket: str, key: str, out: Path, size: int) -> float:
    start = time.perf_counter()
    fn(c, bucket, key, out)
    return size / MB / (time.perf_counter() - start)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size-mb", type=int, default=200)
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument(
        "--upstream", choices=["seaweedfs", "moto"], default="seaweedfs" if SeaweedServer.binary() else "moto"
    )
    args = parser.parse_args()
    size = args.size_mb * MB
    body = os.urandom(size)
    with ExitStack() as stack:
        work = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="s3bench-")))
        server: MotoServer | SeaweedServer = (
            SeaweedServer(work / "seaweed") if args.upstream == "seaweedfs" else MotoServer()
        )
        (work / "seaweed").mkdir()
        stack.enter_context(server)
        direct = client(server.url)
        direct.create_bucket(Bucket="bench")
        via = client(stack.enter_context(proxy(server.url, work / "cache")))
        results: dict[str, list[float]] = {}
        for run in range(args.runs):
            for shape, fn in (("get_object", single_stream), ("download_file", download_file)):
                key = f"model-{run}-{shape}.safetensors"
                direct.put_object(Bucket="bench", Key=key, Body=body)
                out = work / "out.bin"
                for label, c in (("direct", direct), ("proxy cold", via), ("proxy warm", via)):
                    results.setdefault(f"{shape:14s} {label}", []).append(timed(fn, c, "bench", key, out, size))
        print(f"{args.size_mb} MB object, upstream {args.upstream}, {args.runs} runs (MB/s):")
        for name, values in results.items():
            print(f"  {name:28s} " + "  ".join(f"{v:7.0f}" for v in values))
    return 0


if __name__ == "__main__":
    sys.exit(main())
