"""``python -m ucx_sidecar --cache DIR --listen HOST:PORT``: serve the cache volume's blobs over UCX.

    python -m ucx_sidecar --cache /var/cache/modelmanager --listen 0.0.0.0:13337
    MODELMANAGER_CLUSTER_SECRET=... python -m ucx_sidecar --cache ... --engines ucxx,nixl

The cluster secret is ``--cluster-secret``, else ``$MODELMANAGER_CLUSTER_SECRET``, else the file the
proxy generated on the volume (``<cache>/cluster-secret``). Prints ``listening on HOST:PORT`` once
it accepts connections.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys
from collections.abc import Sequence
from pathlib import Path

from modelmanager_client.ucx import wire
from proxy.storage.layout import Layout
from ucx_sidecar.blobs import Blobs
from ucx_sidecar.engine import Engine
from ucx_sidecar.server import Sidecar

SECRET_ENV = "MODELMANAGER_CLUSTER_SECRET"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m ucx_sidecar", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cache", required=True, type=Path, help="the proxy's cache volume (MODELMANAGER_CACHE_DIR)")
    parser.add_argument("--listen", default="0.0.0.0:13337", help="control channel address, host:port (port 0: any)")
    parser.add_argument("--cluster-secret", help=f"default: ${SECRET_ENV}, else <cache>/cluster-secret")
    parser.add_argument("--engines", default="ucxx", help="comma-separated: ucxx, nixl")
    parser.add_argument("-v", "--verbose", action="store_true")
    return parser


def secret_of(args: argparse.Namespace) -> str:
    if args.cluster_secret:
        return str(args.cluster_secret)
    if from_env := os.environ.get(SECRET_ENV):
        return from_env
    path = Layout(args.cache).secret("cluster-secret")
    try:
        return path.read_text().strip()
    except OSError as exc:
        raise SystemExit(f"ucx_sidecar: no cluster secret (--cluster-secret, ${SECRET_ENV} or {path}): {exc}") from exc


def engines_of(names: str) -> dict[str, Engine]:
    engines: dict[str, Engine] = {}
    for name in (n.strip() for n in names.split(",") if n.strip()):
        if name == "ucxx":
            from ucx_sidecar.ucxx_engine import UcxxEngine

            engines[name] = UcxxEngine()
        elif name == "nixl":
            from ucx_sidecar.nixl_engine import NixlEngine

            engines[name] = NixlEngine()
        else:
            raise SystemExit(f"ucx_sidecar: unknown engine {name!r}: {', '.join(wire.ENGINES)}")
    if not engines:
        raise SystemExit("ucx_sidecar: no engine")
    return engines


async def run(args: argparse.Namespace) -> None:
    host, port = wire.parse_address(args.listen, any_port=True)
    sidecar = Sidecar(Blobs(args.cache), secret_of(args), engines_of(args.engines))
    server = await sidecar.serve(host, port)
    bound = server.sockets[0].getsockname()
    print(f"listening on {bound[0]}:{bound[1]} engines={','.join(sorted(sidecar.engines))}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with server:
        await stop.wait()


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s %(message)s")
    asyncio.run(run(args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
