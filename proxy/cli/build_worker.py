"""``modelmanager build-worker``: the command that runs ``proxy.artifacts.worker`` against a proxy.

Exit status: 0 stopped (``--once``: one build ended), 1 no recipe can run here or the proxy refused
the worker (a wrong token), 2 bad arguments.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import sys
import tempfile
from pathlib import Path
from typing import Any

from proxy.artifacts.recipe import RecipeError, registry
from proxy.artifacts.worker import Refused, WorkerConfig, serve, worker_modules
from proxy.credentials import ADMIN_TOKEN, read_secret
from proxy.observe.logs import configure

COMMAND = "build-worker"


def add_command(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(COMMAND, help="Build derived artifacts (compiled engines, "
                                                "compiler caches) for a proxy: once per cluster.")
    p.add_argument("--proxy", default=os.environ.get("MODELMANAGER_SERVER", "http://127.0.0.1:8080"),
                   help="The proxy's URL (default: $MODELMANAGER_SERVER or %(default)s).")
    p.add_argument("--admin-token", default=os.environ.get("MODELMANAGER_ADMIN_TOKEN"),
                   help="The proxy's admin token (default: $MODELMANAGER_ADMIN_TOKEN, else the one in --cache-dir).")
    p.add_argument("--cache-dir", type=Path,
                   default=Path(os.environ.get("MODELMANAGER_CACHE_DIR", ".modelmanager-cache")),
                   help="The proxy's cache volume, to read its generated admin token from.")
    p.add_argument("--recipe-module", action="append", default=[], metavar="MODULE",
                   help="A Python module with extra recipes (RECIPE or RECIPES). Repeatable.")
    p.add_argument("--name", default=socket.gethostname().split(".")[0] or "worker",
                   help="This worker's name in build records (default: the host name).")
    p.add_argument("--workdir", type=Path, default=None,
                   help="Where sources and scratch directories go (default: a temporary directory).")
    p.add_argument("--timeout", type=float, default=3600.0, help="Seconds one build may run (default: 3600).")
    p.add_argument("--once", action="store_true", help="Exit after one build.")
    p.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])


def run(args: argparse.Namespace) -> int:
    configure(args.log_level, "json")
    modules = worker_modules(args.recipe_module)
    try:
        recipes = registry(modules)
    except ImportError as exc:
        print(f"modelmanager build-worker: cannot import a --recipe-module: {exc}", file=sys.stderr)
        return 2
    token = args.admin_token or read_secret(args.cache_dir, ADMIN_TOKEN)
    with tempfile.TemporaryDirectory(prefix="mm-build-") as tmp:
        workdir = args.workdir or Path(tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        config = WorkerConfig(proxy=args.proxy, token=token, name=args.name, workdir=workdir,
                              timeout=args.timeout, modules=modules)
        try:
            return asyncio.run(serve(config, recipes, once=args.once))
        except (RecipeError, Refused) as exc:
            print(f"modelmanager build-worker: {exc}", file=sys.stderr)
            return 1
        except KeyboardInterrupt:
            return 0
