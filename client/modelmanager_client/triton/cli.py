"""``modelmanager-client triton ...`` (also ``python -m modelmanager_client triton`` and
``modelmanager triton``): a Triton model repository laid out from the proxy's cache, and Triton
driven over HTTP or gRPC.

    triton sync [--include NAME] [--cpu] [--load]   lay out every model of the models file
    triton watch [--interval S] [--grace S]         new upstream versions: pre-warm, lay out, load, retire
    triton copy-config [--cpu]                      config files (or their CPU variants) as config.pbtxt
    triton list                                     models: file, disk, Triton's state
    triton load NAME | unload NAME                  explicit model control
    triton enable NAME | disable NAME               move between <repo> and <repo>-disabled (+ load/unload)
    triton config NAME                              the config Triton serves (JSON)
    triton status                                   Triton's readiness and repository index

Exit status: 0 done; 1 Triton or the proxy refused, or a file failed; 2 bad models file or
arguments; 3 Triton or the proxy unreachable.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import threading
from collections.abc import Sequence
from pathlib import Path

from modelmanager_client.errors import ClientError, ProxyUnavailable
from modelmanager_client.node import NodeTier
from modelmanager_client.triton.control import admin_token
from modelmanager_client.triton.models import Models, ModelsFileError, load
from modelmanager_client.triton.repository import Repository, RepositoryError
from modelmanager_client.triton.server import URL_ENV, Triton, TritonError, TritonUnavailable
from modelmanager_client.triton.sync import Syncer, copy_configs
from modelmanager_client.triton.watch import Watcher

MODELS_ENV = "MODELMANAGER_TRITON_MODELS"
REPOSITORY_ENV = "MODELMANAGER_TRITON_REPOSITORY"
EXIT_FAILED, EXIT_USAGE, EXIT_UNREACHABLE = 1, 2, 3


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="modelmanager-client triton", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", type=Path, default=Path(os.environ.get(MODELS_ENV, "models.toml")),
                        help=f"the models file (default: ${MODELS_ENV} or %(default)s)")
    parser.add_argument("--repository", type=Path, default=Path(os.environ.get(REPOSITORY_ENV, "model_repository")),
                        help=f"Triton's model repository (default: ${REPOSITORY_ENV} or %(default)s)")
    parser.add_argument("--triton-url", default=os.environ.get(URL_ENV, "http://127.0.0.1:8000"),
                        help=f"http://host:8000 or grpc://host:8001 (default: ${URL_ENV} or %(default)s)")
    parser.add_argument("--host", help="the proxy (default: $MODELMANAGER_URL; a bare name means http://name:8080)")
    parser.add_argument("--token", help="HF token, or ACCESS_KEY:SECRET for S3 sources (default: HF_TOKEN / AWS_*)")
    parser.add_argument("-v", "--verbose", action="store_true", help="log at INFO")
    sub = parser.add_subparsers(dest="command", required=True)
    sync = sub.add_parser("sync", help="lay out every model (or --include) from the cache")
    sync.add_argument("--include", action="append", metavar="NAME", help="only this model (repeatable)")
    sync.add_argument("--cpu", action="store_true", help="use each model's cpu_config")
    sync.add_argument("--load", action="store_true", help="load each model laid out (explicit model control)")
    watch = sub.add_parser("watch", help="follow models with watch = true: pre-warm, lay out, load, retire")
    watch.add_argument("--interval", type=float, default=60.0, help="seconds between checks (default %(default)s)")
    watch.add_argument("--grace", type=float, default=300.0,
                       help="seconds an old version stays on disk after the new one is ready (default %(default)s)")
    watch.add_argument("--admin-token", help="the proxy's admin token (default: $MODELMANAGER_ADMIN_TOKEN, "
                       "else admin-token on the mounted cache volume)")
    watch.add_argument("--cpu", action="store_true", help="use each model's cpu_config")
    watch.add_argument("--no-load", action="store_true", help="lay out only (Triton polls the repository)")
    watch.add_argument("--once", action="store_true", help="one round, then exit (retiring only what is due)")
    copy = sub.add_parser("copy-config", help="write each model's config file as its config.pbtxt")
    copy.add_argument("--cpu", action="store_true", help="the cpu_config variants")
    copy.add_argument("--include", action="append", metavar="NAME", help="only this model (repeatable)")
    sub.add_parser("list", help="every model: where it is, its versions on disk, Triton's state")
    sub.add_parser("status", help="Triton's readiness and repository index")
    for verb, text in (("load", "load a model (explicit model control)"), ("unload", "unload a model"),
                       ("enable", "move a model back from <repo>-disabled and load it"),
                       ("disable", "unload a model and move it to <repo>-disabled"),
                       ("config", "print the model config Triton serves (JSON)")):
        one = sub.add_parser(verb, help=text)
        one.add_argument("name")
        if verb in ("enable", "disable"):
            one.add_argument("--no-triton", action="store_true", help="only move (Triton is not running)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(message)s")
    try:
        return _run(args)
    except ModelsFileError as exc:
        print(f"triton: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except (TritonUnavailable, ProxyUnavailable) as exc:
        print(f"triton: {exc}", file=sys.stderr)
        return EXIT_UNREACHABLE
    except (TritonError, ClientError, RepositoryError, ValueError, OSError) as exc:
        print(f"triton: {exc}", file=sys.stderr)
        return EXIT_FAILED


def _run(args: argparse.Namespace) -> int:
    repository = Repository(args.repository)
    command = args.command
    if command in ("sync", "watch", "copy-config"):
        models = load(args.models)
        for name in getattr(args, "include", None) or []:
            models.spec(name)
        if command == "copy-config":
            for path in copy_configs(models, repository, args.cpu, args.include):
                print(f"wrote {path}")
            return 0
        syncer = Syncer(models, repository, args.host, NodeTier(), args.cpu, args.token, report=print)
        if command == "sync":
            return _sync(args, syncer)
        return _watch(args, syncer)
    if command == "list":
        return _list(args, repository)
    with Triton(args.triton_url) as triton:
        if command == "status":
            ready = triton.ready()
            print(f"Triton at {args.triton_url}: {'ready' if ready else 'NOT ready'}")
            for entry in triton.index():
                print(f"{entry.name}\t{entry.version or '-'}\t{entry.state or '-'}\t{entry.reason}")
            return 0 if ready else EXIT_FAILED
        if command == "load":
            triton.load(args.name)
            print(f"loaded {args.name}")
        elif command == "unload":
            triton.unload(args.name)
            print(f"unloaded {args.name}")
        elif command == "config":
            print(json.dumps(triton.config(args.name), indent=2, sort_keys=True))
        elif command == "disable":
            if not args.no_triton:
                triton.unload(args.name)
            print(f"disabled {args.name}: {repository.move(args.name, enable=False)}")
        elif command == "enable":
            moved = repository.move(args.name, enable=True)
            if not args.no_triton:
                try:
                    triton.load(args.name)
                except TritonError:
                    repository.move(args.name, enable=False)  # as it was: Triton's error is printed
                    raise
            print(f"enabled {args.name}: {moved}")
    return 0


def _sync(args: argparse.Namespace, syncer: Syncer) -> int:
    removed = syncer.repository.clean_staging()
    if removed:
        print(f"removed {removed} staging directories left by an interrupted sync")
    done = syncer.sync(args.include)
    failed = sorted({d.model for d in done if d.outcome.startswith("failed")})
    if args.load:
        with Triton(args.triton_url) as triton:
            for name in sorted({d.model for d in done if d.outcome != "disabled"} - set(failed)):
                triton.load(name)
                print(f"loaded {name}")
    if failed:
        print(f"triton: sync failed for {', '.join(failed)}", file=sys.stderr)
        return EXIT_FAILED
    return 0


def _watch(args: argparse.Namespace, syncer: Syncer) -> int:
    syncer.repository.clean_staging()
    triton = None if args.no_load else Triton(args.triton_url)
    watcher = Watcher(syncer, triton, admin_token(args.admin_token), args.grace)
    if not watcher.watched():
        print("no model has watch = true", file=sys.stderr)
        return EXIT_USAGE
    try:
        if args.once:
            watcher.step()
        else:
            watcher.run(args.interval, threading.Event())
    except KeyboardInterrupt:
        pass
    finally:
        if triton is not None:
            triton.close()
    return 0


def _list(args: argparse.Namespace, repository: Repository) -> int:
    names: set[str] = set(repository.models()) | set(repository.disabled_models())
    models: Models | None = None
    if args.models.exists():
        models = load(args.models)
        names |= set(models.specs)
    states: dict[str, list[str]] = {}
    try:
        with Triton(args.triton_url) as triton:
            for entry in triton.index():
                states.setdefault(entry.name, []).append(f"{entry.version or '-'}:{entry.state or 'UNKNOWN'}")
        triton_note = ""
    except TritonUnavailable as exc:
        triton_note = f"(Triton unreachable: {exc})"
    print("MODEL\tWHERE\tVERSIONS ON DISK\tTRITON")
    for name in sorted(names):
        if (repository.root / name).is_dir():
            where, versions = "repository", repository.versions(name)
        elif (repository.disabled / name).is_dir():
            where, versions = "disabled", repository.versions(name, repository.disabled)
        else:
            where, versions = "not synced", []
        listed = "" if models is None or name in models.specs else " (not in the models file)"
        print(f"{name}\t{where}{listed}\t{','.join(map(str, versions)) or '-'}\t"
              f"{' '.join(states.get(name, [])) or '-'}")
    if triton_note:
        print(triton_note, file=sys.stderr)
    return 0
