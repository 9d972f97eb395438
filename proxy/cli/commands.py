"""The ``modelmanager`` command line: serve, ls, gc, config-docs, build-worker, and the control API's commands.

The application factory comes from the composition root (``proxy.__main__``), so this room never
imports ``adapters/``.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, get_args

from aiohttp import web
from pydantic import ValidationError

from proxy import __version__
from proxy.artifacts.key import Manifest, canonical_json
from proxy.cli import build_worker, console
from proxy.cli.server import serve_forever
from proxy.config import Settings, render_markdown
from proxy.control.pins import Pins
from proxy.errors import ConfigError
from proxy.observe.logs import configure
from proxy.storage.blobstore import FsBlobStore
from proxy.storage.gc import collect_garbage
from proxy.storage.index import Index
from proxy.storage.layout import Layout
from proxy.storage.records import RecordStore
from proxy.workers import env as workers_env
from proxy.workers import supervisor, worker

log = logging.getLogger("modelmanager")

AppFactory = Callable[[Settings], web.Application]


def _add_setting_flags(parser: argparse.ArgumentParser, names: Sequence[str] | None = None) -> None:
    for name, field in Settings.model_fields.items():
        if names is not None and name not in names:
            continue
        flag = "--" + name.replace("_", "-")
        help_text = (field.description or "").replace("%", "%%")
        if field.annotation is bool:
            parser.add_argument(flag, dest=name, action=argparse.BooleanOptionalAction, default=None,
                                help=help_text)
        elif name in ("http_allow", "s3_route", "gcs_allow", "azure_allow"):
            parser.add_argument(flag, dest=name, action="append", default=None,
                                metavar="BUCKET=TARGET" if name == "s3_route" else "PATTERN",
                                help=help_text + " Repeatable.")
        else:
            choices = get_args(field.annotation) if "Literal" in str(field.annotation) else None
            parser.add_argument(flag, dest=name, default=None, choices=choices or None, help=help_text)


def load_settings(args: argparse.Namespace) -> Settings:
    given: dict[str, Any] = {k: v for k, v in vars(args).items() if k in Settings.model_fields and v is not None}
    return Settings(**given)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="modelmanager", description="Cluster-local caching proxy for model files.")
    parser.add_argument("--version", action="version", version=f"modelmanager {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="Run the proxy.")
    _add_setting_flags(serve)
    ls = sub.add_parser("ls", help="List cached entries: key, size, digest, age (and for a derived artifact: "
                        "its recipe, sources and target).")
    _add_setting_flags(ls, ["cache_dir", "node_id"])
    ls.add_argument("--json", action="store_true", help="One JSON object per line.")
    ls.add_argument("--pinned", action="store_true", help="List pins (URL, version, expiry) instead of entries.")
    gc = sub.add_parser("gc", help="Remove blobs no index entry references.")
    _add_setting_flags(gc, ["cache_dir", "node_id"])
    gc.add_argument("--dry-run", action="store_true", help="Only report what would be removed.")
    gc.add_argument("--grace", type=float, default=3600.0,
                    help="Keep unreferenced blobs younger than this many seconds (a fill may be about to index them).")
    sub.add_parser("config-docs", help="Print the configuration reference (docs/configuration.md).")
    console.add_commands(sub)
    build_worker.add_command(sub)
    sub.add_parser("triton", add_help=False,
                   help="Triton model repositories from the cache: the client's `modelmanager-client triton` "
                   "(docs/triton.md).")
    return parser


def _triton(argv: Sequence[str]) -> int:
    """``modelmanager triton ...`` is the client distribution's command: it runs beside Triton, on the
    node that mounts the cache volume, and needs only the client (``modelmanager-client[triton]``)."""
    try:
        from modelmanager_client.triton.cli import main as triton_main
    except ImportError as exc:
        print(f"modelmanager triton needs the client with its triton extra "
              f"(pip install 'modelmanager-client[triton]'): {exc}", file=sys.stderr)
        return 2
    return triton_main(argv)


def invalid_settings(exc: ValidationError) -> list[str]:
    """One line per invalid setting, named by its flag (and variable), never by the field."""
    lines = []
    for error in exc.errors():
        name = str(error["loc"][0]) if error["loc"] else ""
        flag = f"--{name.replace('_', '-')} (MODELMANAGER_{name.upper()})" if name else "settings"
        message = str(error["msg"]).removeprefix("Value error, ")
        lines.append(f"invalid {flag}: {message}")
    return lines


def check_cache_dir(path: Path) -> str | None:
    """Why the cache volume cannot be used, or None (then it exists and takes a file)."""
    if path.exists() and not path.is_dir():
        return f"--cache-dir {path} is a file, not a directory"
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=path):
            pass
    except OSError as exc:
        return f"--cache-dir {path} cannot be used: {exc.strerror or exc} (uid {os.getuid()})"
    return None


def _serve(settings: Settings, build_app: AppFactory, argv: Sequence[str]) -> int:
    if (problem := check_cache_dir(settings.cache_dir)) is not None:
        print(f"modelmanager: {problem}", file=sys.stderr)
        return 2
    configure(settings.log_level, settings.log_format)
    worker_env = workers_env.current()
    if worker_env is None and settings.worker_count() > 1:
        return supervisor.run(settings, argv)  # it starts the workers: this same command, once per core
    if worker_env is not None:
        settings = worker.prepare(settings, worker_env)
    if not settings.http_allow:
        log.warning("--http-allow is empty: /v1/fetch refuses every upstream host")
    if settings.event_loop == "uvloop":
        import uvloop

        uvloop.install()
    try:
        app = build_app(settings)
    except ConfigError as exc:
        print(f"modelmanager: {exc}", file=sys.stderr)
        return 2
    sites: dict[str, Any] = {}
    if worker_env is not None:
        sites = worker.wire(app, worker_env)  # a worker of several: SO_REUSEPORT, its sibling socket
    log.info("starting", extra={"version": __version__, "host": settings.host, "port": settings.port,
                                "cache_dir": str(settings.cache_dir), "node_id": settings.node_id,
                                "mode": "embedded" if settings.embedded else "cluster",
                                "advertise_url": settings.advertised(), "event_loop": settings.event_loop})
    try:
        serve_forever(app, settings, reuse_port=bool(sites.get("reuse_port")), unix_path=sites.get("path"),
                      on_listening=sites.get("print"))
    except OSError as exc:  # the address is in use or cannot be bound: one line, not a traceback
        print(f"modelmanager: cannot listen on {settings.host}:{settings.port} (--host/--port): "
              f"{exc.strerror or exc}", file=sys.stderr)
        return 2
    return 0


class NotACache(Exception):
    """``--cache-dir`` names no cache: a command that only reads or cleans one must not make one."""


def existing_layout(settings: Settings) -> Layout:
    layout = Layout(settings.cache_dir)
    if not (layout.blobs.is_dir() or layout.index.is_dir()):
        what = "does not exist" if not settings.cache_dir.exists() else "holds no cache (no blobs/ or index/)"
        raise NotACache(f"--cache-dir {settings.cache_dir} {what}")
    return layout


def _ls(settings: Settings, as_json: bool) -> int:
    now = time.time()
    index = Index(existing_layout(settings), settings.node_id)
    rows = sorted(index.entries(), key=lambda e: e.key)
    for entry in rows:
        manifest = Manifest.of_entry(entry)
        if as_json:
            row = {"key": entry.key, "size": entry.size, "digest": str(entry.digest),
                   "age_seconds": round(now - entry.fetched_at, 1), "etag": entry.etag}
            print(json.dumps({**row, "artifact": manifest.canonical()} if manifest is not None else row))
        else:
            derived = "" if manifest is None else (
                f"\t{manifest.recipe.name} of {len(manifest.sources)} source(s) for {canonical_json(manifest.target)}")
            print(f"{entry.key}\t{entry.size}\t{entry.digest}\t{_age(now - entry.fetched_at)}{derived}")
    if not as_json:
        print(f"{len(rows)} entries, {sum(e.size for e in rows)} bytes", file=sys.stderr)
    return 0


def _ls_pins(settings: Settings, as_json: bool) -> int:
    now = time.time()
    layout = existing_layout(settings)
    pins = Pins(RecordStore(layout, settings.node_id, "pins")).all()
    for pin in pins:
        if as_json:
            print(json.dumps(pin.to_json()))
            continue
        expiry = "never" if pin.expires_at is None else (
            f"in {_age(pin.expires_at - now)}" if pin.live(now) else "expired")
        print(f"{pin.url}\t{pin.version}\t{pin.reason}\texpires {expiry}")
    if not as_json:
        print(f"{len(pins)} pins", file=sys.stderr)
    return 0


def _age(seconds: float) -> str:
    for unit, span in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= span:
            return f"{seconds / span:.1f}{unit}"
    return f"{seconds:.0f}s"


def _gc(settings: Settings, dry_run: bool, grace: float) -> int:
    store = FsBlobStore(existing_layout(settings), settings.node_id)
    report = collect_garbage(store, Index(store.layout, settings.node_id), time.time(), grace, dry_run)
    verb = "would remove" if dry_run else "removed"
    print(f"{verb} {report.removed} blobs ({report.removed_bytes} bytes); kept {report.kept} referenced, "
          f"{report.young} unreferenced but younger than the grace period")
    return 0


def main(argv: Sequence[str] | None, build_app: AppFactory) -> int:
    given = list(sys.argv[1:] if argv is None else argv)
    if given[:1] == ["triton"]:
        return _triton(given[1:])
    args = _parser().parse_args(argv)
    if args.command == "config-docs":
        sys.stdout.write(render_markdown())
        return 0
    if args.command in console.COMMANDS:
        return console.run(args)
    if args.command == build_worker.COMMAND:
        return build_worker.run(args)
    try:
        settings = load_settings(args)
    except ValidationError as exc:
        for line in invalid_settings(exc):
            print(f"modelmanager: {line}", file=sys.stderr)
        return 2
    if args.command == "serve":
        return _serve(settings, build_app, sys.argv[1:] if argv is None else argv)
    try:
        if args.command == "ls":
            return _ls_pins(settings, args.json) if args.pinned else _ls(settings, args.json)
        return _gc(settings, args.dry_run, args.grace)
    except NotACache as exc:
        print(f"modelmanager {args.command}: {exc}", file=sys.stderr)
        return 2
