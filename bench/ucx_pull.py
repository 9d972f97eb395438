"""``python -m bench.ucx_pull``: one transport moving one warm blob into this process's memory, timed.

Run as a child process per variant, so each UCX configuration starts UCX afresh with its own
environment. The destination is allocated and touched once, then reused by every run (the runs time
the transfer, not page faults). ``--device cuda`` lands UCX transfers straight in GPU memory, and the
file and HTTP variants in pinned host memory followed by one copy to the GPU. Prints one JSON line:
``{"seconds": [...], "ok": bool, "note": str}``; ``ok`` is the blake3 of what arrived in an untimed
first run, which also pays the one-off costs (UCX wire-up, the sidecar's blake3 check of the blob).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from typing import Any

import blake3

from modelmanager_client.fetch import locate
from modelmanager_client.info import DownloadInfo
from modelmanager_client.ranged import FileRanges, HttpRanges, RangeSource, read_all
from modelmanager_client.ucx.config import UcxConfig
from modelmanager_client.ucx.wire import parse_address


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench.ucx_pull", description=__doc__)
    parser.add_argument("--transport", required=True, choices=["ucxx", "nixl", "http", "handoff"])
    parser.add_argument("--proxy", required=True, help="the proxy's base URL")
    parser.add_argument("--url", required=True, help="the file's upstream URL (served through the proxy)")
    parser.add_argument("--volume", help="the proxy's cache volume (handoff)")
    parser.add_argument("--sidecar", help="host:port (ucxx, nixl)")
    parser.add_argument("--secret", default="")
    parser.add_argument("--threads", type=int, default=1, help="ranges in flight (HTTP connections, file readers)")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--device", default="cpu")
    return parser


def _source(args: argparse.Namespace) -> tuple[Callable[[], RangeSource], str, int]:
    remote, route = locate(DownloadInfo(args.url, provider="HTTP", host=args.proxy))
    if remote.digest is None or remote.blob_path is None:
        raise SystemExit("the proxy does not hold the file yet")
    size = remote.size
    if args.transport == "http":
        return lambda: HttpRanges(route, size), remote.digest, size
    if args.transport == "handoff":
        return lambda: FileRanges(f"{args.volume}/{remote.blob_path}", size), remote.digest, size
    from modelmanager_client.ucx.source import UcxRanges

    config = UcxConfig(parse_address(args.sidecar), args.secret, args.transport, 60.0, args.threads)
    digest = remote.digest
    return lambda: UcxRanges(config, digest, size), digest, size


def main() -> int:
    args = _parser().parse_args()
    make, digest, size = _source(args)
    cuda = args.device.startswith("cuda")
    direct = cuda and args.transport in ("ucxx", "nixl")
    host: Any = None
    device: Any = None
    if cuda:
        import torch

        device = torch.empty(size, dtype=torch.uint8, device=args.device)
        device.fill_(0)
    if not direct:
        if cuda:
            import torch

            from modelmanager_client.tensors import host_view

            pinned = torch.empty(size, dtype=torch.uint8, pin_memory=True)
            host = host_view(pinned)
        else:
            host = memoryview(bytearray(size))
        for off in range(0, size, 4096):  # touched: no first-touch faults in the runs
            host[off] = 0
    seconds: list[float] = []
    ok = False
    source = make()  # connected and logged in once, as a client process would be
    try:
        for run in range(args.runs + 1):  # run 0 warms up (UCX wire-up, the sidecar's one-off blake3 check)
            started = time.perf_counter()
            if direct:
                _into_device(source, device, args.threads)
                torch.cuda.synchronize()
            else:
                read_all(source, host, args.threads)
                if cuda:
                    device.copy_(pinned)
                    torch.cuda.synchronize()
            if run == 0:
                got = device.cpu().numpy().tobytes() if cuda else host
                ok = blake3.blake3(got, max_threads=blake3.blake3.AUTO).hexdigest() == digest
                if cuda:
                    device.fill_(0)
            else:
                seconds.append(time.perf_counter() - started)
    finally:
        source.close()
    print(json.dumps({"seconds": seconds, "ok": ok, "size": size, "note": ""}), flush=True)
    return 0


def _into_device(source: RangeSource, device: Any, threads: int) -> None:
    """UCX straight into GPU memory: each range lands in a slice of the device buffer."""
    from modelmanager_client.ranged import fan_out

    fan_out(lambda off, n: source.read_into(off, device[off:off + n]), source.size, threads)


if __name__ == "__main__":
    sys.exit(main())
