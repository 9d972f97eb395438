"""The Hub emulator (tests/fakes/fake_hub.py) as a process: one repo of files read from a directory.

``python -m bench.hub --root DIR --repo ORG/NAME --port N --cdn-port M`` serves every file under
``DIR`` as one commit of ``ORG/NAME`` on ``main``: small files from the Hub itself, LFS files
(1 KiB and up) as a 302 to the emulator's CDN on the second port, as huggingface.co does.
``GET /_bench/stats`` on the hub port: ``{"hub": n, "cdn_gets": n, "cdn_bytes": n}``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import urllib.request
from pathlib import Path

from aiohttp import web
from aiohttp.typedefs import Handler
from yarl import URL

from bench.process import ChildProcess, Server, free_port
from tests.fakes.fake_hub import FakeHub

REPO_ID = "bench/model-50"


def load_repo(hub: FakeHub, root: Path, repo_id: str) -> str:
    """Commit every file under ``root`` (paths relative to it) to ``repo_id``; returns the commit sha."""
    files = {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}
    return hub.create(repo_id).commit(files)


def _with_stats(hub: FakeHub) -> web.Application:
    """The hub app with ``/_bench/stats`` in front (a middleware: the emulator's catch-all route answers the rest)."""

    @web.middleware
    async def stats(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path != "/_bench/stats":
            return await handler(request)
        cdn = [r for r in hub.cdn_requests if r[0] == "GET"]
        sizes = {
            f.sha256: len(f.content)
            for repo in hub.repos.values()
            for c in repo.commits.values()
            for f in c.values()
            if f.lfs
        }
        return web.json_response(
            {"hub": len(hub.requests), "cdn_gets": len(cdn), "cdn_bytes": sum(sizes.get(sha, 0) for _, sha, _ in cdn)}
        )

    hub.app.middlewares.append(stats)
    return hub.app


async def _serve(root: Path, repo_id: str, host: str, port: int, cdn_port: int) -> None:
    hub = FakeHub()
    load_repo(hub, root, repo_id)
    hub.hub_url, hub.cdn_url = URL(f"http://{host}:{port}"), URL(f"http://{host}:{cdn_port}")
    runners = []
    for app, p in ((_with_stats(hub), port), (hub.cdn, cdn_port)):
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, host, p).start()
        runners.append(runner)
    try:
        await asyncio.Event().wait()
    finally:
        for runner in runners:
            await runner.cleanup()


class HubProcess(Server):
    """The emulator as a child process; ``endpoint`` is what HF_ENDPOINT (or a proxy) points at."""

    def __init__(self, root: Path, logdir: Path, repo_id: str = REPO_ID) -> None:
        self.repo_id = repo_id
        self.port, self.cdn_port = free_port(), free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        argv = [
            sys.executable,
            "-m",
            "bench.hub",
            "--root",
            str(root),
            "--repo",
            repo_id,
            "--port",
            str(self.port),
            "--cdn-port",
            str(self.cdn_port),
        ]
        self._launch(ChildProcess("hub", argv, logdir / "hub.log", cwd=Path(__file__).parent.parent),
                     f"{self.endpoint}/_bench/stats", timeout=60)

    def stats(self) -> dict[str, int]:
        with urllib.request.urlopen(f"{self.endpoint}/_bench/stats", timeout=5) as response:
            raw: dict[str, int] = json.loads(response.read())
            return raw





def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.hub", description=__doc__)
    parser.add_argument("--root", type=Path, required=True)
    parser.add_argument("--repo", default=REPO_ID)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--cdn-port", type=int, required=True)
    args = parser.parse_args(argv)
    asyncio.run(_serve(args.root, args.repo, args.host, args.port, args.cdn_port))


if __name__ == "__main__":
    main()
