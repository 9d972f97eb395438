"""The operator commands that drive a running proxy's control API: prefetch, pin, unpin, watch,
unwatch, jobs. ``prefetch`` follows its job with a progress bar on a terminal (rich) and with one
plain line per change otherwise (logs, CI).

The admin token is ``--admin-token``, else ``$MODELMANAGER_ADMIN_TOKEN``, else the token the proxy
generated on its cache volume (``<--cache-dir>/admin-token``, readable where the volume is mounted,
e.g. ``kubectl exec``). Exit status: 0 done; 1 the job failed or the proxy refused the request; 3 the
proxy is unreachable.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from pathlib import Path
from typing import Any, TextIO

import aiohttp

from proxy.credentials import ADMIN_TOKEN, read_secret

COMMANDS = ("prefetch", "pin", "unpin", "watch", "unwatch", "jobs")
DEFAULT_SERVER = "http://127.0.0.1:8080"
EXIT_FAILED, EXIT_UNREACHABLE = 1, 3


class Refused(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"{status}: {message}")
        self.status = status


def add_commands(sub: Any) -> None:
    def command(name: str, help_text: str) -> argparse.ArgumentParser:
        parser: argparse.ArgumentParser = sub.add_parser(name, help=help_text)
        parser.add_argument("--server", default=os.environ.get("MODELMANAGER_SERVER", DEFAULT_SERVER),
                            help="The proxy's URL (default: $MODELMANAGER_SERVER or %(default)s).")
        parser.add_argument("--admin-token", default=os.environ.get("MODELMANAGER_ADMIN_TOKEN"),
                            help="The proxy's admin token (default: $MODELMANAGER_ADMIN_TOKEN, else the "
                            "one the proxy generated in --cache-dir).")
        parser.add_argument("--cache-dir", type=Path,
                            default=Path(os.environ.get("MODELMANAGER_CACHE_DIR", ".modelmanager-cache")),
                            help="The proxy's cache volume, to read its generated admin token from "
                            "(default: $MODELMANAGER_CACHE_DIR or %(default)s).")
        return parser

    p = command("prefetch", "Fetch a URL (repo, prefix or file) into the cache, showing progress.")
    p.add_argument("url", help="hf://org/repo[@revision][/path], s3://bucket/prefix or https://...")
    p.add_argument("--pin", action="store_true", help="Pin the version fetched: never evicted.")
    p.add_argument("--allow", action="append", default=[], metavar="PATTERN", help="Only matching files.")
    p.add_argument("--ignore", action="append", default=[], metavar="PATTERN", help="Skip matching files.")
    p.add_argument("--token", default=os.environ.get("HF_TOKEN"), help="Hub token (default: $HF_TOKEN).")
    p.add_argument("--no-wait", action="store_true", help="Print the job id and return at once.")
    p = command("pin", "Pin a URL at its current version.")
    p.add_argument("url")
    p.add_argument("--token", default=os.environ.get("HF_TOKEN"), help="Hub token (default: $HF_TOKEN).")
    command("unpin", "Remove the pins of a URL.").add_argument("url")
    p = command("watch", "Follow a branch or prefix: pre-warm each new version before serving it.")
    p.add_argument("url")
    p.add_argument("--interval", type=float, default=None, help="Seconds between checks (default: the proxy's).")
    p.add_argument("--grace", type=float, default=None,
                   help="Seconds the previous version stays pinned after a switch (default: the proxy's).")
    command("unwatch", "Stop watching a URL.").add_argument("url")
    command("jobs", "List prefetch jobs, or show one.").add_argument("id", nargs="?")


def run(args: argparse.Namespace) -> int:
    try:
        return asyncio.run(_run(args))
    except aiohttp.ClientConnectionError as exc:
        print(f"modelmanager: cannot reach {args.server}: {exc}", file=sys.stderr)
        return EXIT_UNREACHABLE
    except Refused as exc:
        print(f"modelmanager: the proxy refused: {exc}", file=sys.stderr)
        if exc.status == 401:
            print("modelmanager: pass the admin token (--admin-token, $MODELMANAGER_ADMIN_TOKEN), or --cache-dir "
                  "of the proxy's volume where it generated one", file=sys.stderr)
        return EXIT_FAILED


async def _run(args: argparse.Namespace) -> int:
    token = args.admin_token or read_secret(args.cache_dir, ADMIN_TOKEN)
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with aiohttp.ClientSession(base_url=args.server.rstrip("/") + "/", headers=headers,
                                     timeout=aiohttp.ClientTimeout(total=None, sock_connect=10)) as api:
        if args.command == "prefetch":
            return await _prefetch(api, args)
        if args.command == "pin":
            _print(await _call(api, "POST", "v1/pins", {"url": args.url, "token": args.token}))
        elif args.command == "unpin":
            _print(await _call(api, "DELETE", "v1/pins", params={"url": args.url}))
        elif args.command == "watch":
            _print(await _call(api, "POST", "v1/watches", {"url": args.url, "interval": args.interval,
                                                             "grace": args.grace}))
        elif args.command == "unwatch":
            _print(await _call(api, "DELETE", "v1/watches", params={"url": args.url}))
        else:
            _print(await _call(api, "GET", f"v1/jobs/{args.id}" if args.id else "v1/jobs"))
        return 0


async def _call(api: aiohttp.ClientSession, method: str, path: str, body: dict[str, Any] | None = None,
                params: dict[str, str] | None = None) -> Any:
    async with api.request(method, path, json=body, params=params) as r:
        data = await r.json(content_type=None)
        if r.status >= 400:
            raise Refused(r.status, data.get("error", "") if isinstance(data, dict) else str(data))
        return data


def _print(data: Any) -> None:
    print(json.dumps(data, indent=2))


async def _prefetch(api: aiohttp.ClientSession, args: argparse.Namespace) -> int:
    job = await _call(api, "POST", "v1/prefetch", {"url": args.url, "pin": args.pin, "allow_patterns": args.allow,
                                                   "ignore_patterns": args.ignore, "token": args.token})
    if args.no_wait:
        print(job["id"])
        return 0
    progress = RichProgress() if sys.stdout.isatty() else LineProgress(sys.stdout)
    with progress:
        while True:
            progress.show(job)
            if job["finished_at"] is not None:
                break
            job = await _call(api, "GET", f"v1/jobs/{job['id']}", params={"wait": "1"})
    for error in job["errors"]:
        print(f"error: {error['path'] or job['url']}: {error['error']}", file=sys.stderr)
    print(summary(job))
    return 0 if job["state"] == "succeeded" else EXIT_FAILED


def summary(job: dict[str, Any]) -> str:
    elapsed = (job["finished_at"] or 0) - job["started_at"]
    if job["state"] != "succeeded":
        return f"prefetch of {job['url']} failed: {len(job['errors'])} errors, {job['files_done']}/" \
               f"{job['files_total']} files done"
    return (f"prefetched {job['url']} at {job['version']}: {job['files_done']} files "
            f"({job['files_cached']} already cached), {size(job['bytes_done'])} in {elapsed:.1f}s"
            + (", pinned" if job["pin"] else ""))


def size(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.1f} {unit}" if unit != "B" else f"{int(n)} B"
        n /= 1024
    raise AssertionError("unreachable")


class LineProgress:
    """One line per change, for logs and pipes."""

    def __init__(self, out: TextIO) -> None:
        self._out = out
        self._last = ""

    def __enter__(self) -> LineProgress:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def show(self, job: dict[str, Any]) -> None:
        line = (f"[{job['id']}] {job['state']}: {job['files_done']}/{job['files_total']} files, "
                f"{size(job['bytes_done'])}/{size(job['bytes_total'])}, {size(job['rate_bytes_per_second'])}/s")
        if line != self._last:
            print(line, file=self._out, flush=True)
            self._last = line


class RichProgress:
    """A progress bar with bytes, rate and files, on a terminal."""

    def __init__(self) -> None:
        from rich.progress import (
            BarColumn,
            DownloadColumn,
            Progress,
            TextColumn,
            TimeRemainingColumn,
            TransferSpeedColumn,
        )

        self._progress = Progress(TextColumn("{task.description}"), BarColumn(), DownloadColumn(),
                                  TransferSpeedColumn(), TextColumn("{task.fields[files]}"), TimeRemainingColumn())
        self._task = self._progress.add_task("resolving", total=None, files="")

    def __enter__(self) -> RichProgress:
        self._progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._progress.stop()

    def show(self, job: dict[str, Any]) -> None:
        self._progress.update(self._task, description=job["url"], total=job["bytes_total"] or None,
                              completed=job["bytes_done"], files=f"{job['files_done']}/{job['files_total']} files")
