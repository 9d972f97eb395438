"""``modelmanager build-worker``: build derived artifacts for a proxy, once per cluster.

The worker offers the recipes that can run here (``Recipe.available``), each for this machine's
target (``Recipe.target``), and long-polls ``POST /v1/builds/claim``. For a claimed build it
downloads the sources from the proxy (``GET /v1/blobs/{digest}``, verified against their
digests), runs the recipe in a child process in a fresh scratch directory with a time limit
(``proxy.artifacts.runner``), renews its lease every quarter of its TTL meanwhile (a lost lease
kills the build), and uploads the output (``PUT /v1/artifacts/{key}``) or reports the failure
with the tail of the build log (``POST /v1/builds/{key}/fail``). One build at a time per worker.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
import shutil
import signal
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import blake3

from proxy.artifacts.builds import Claim
from proxy.artifacts.recipe import BuildInput, Recipe, RecipeError
from proxy.artifacts.runner import log_tail, run_build
from proxy.digest import Digest

log = logging.getLogger(__name__)

CLAIM_WAIT = 20.0
RETRY = 2.0
CHUNK = 1 << 20
_SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]")


class Refused(Exception):
    """The proxy refused the worker's call (a wrong token: 401; an unknown route: an old proxy)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"the proxy answered {status}: {message}")
        self.status = status


@dataclass(frozen=True)
class WorkerConfig:
    proxy: str
    token: str | None
    name: str
    workdir: Path
    timeout: float
    modules: tuple[str, ...] = ()


def offers(recipes: Mapping[str, Recipe]) -> dict[str, dict[str, str]]:
    """recipe name -> this machine's target, for the recipes that can run here."""
    found = {}
    for name, recipe in recipes.items():
        reason = recipe.available()
        if reason is None:
            found[name] = recipe.target()
        else:
            log.info("recipe not offered", extra={"recipe": name, "reason": reason})
    return found


class BuildWorker:
    def __init__(self, config: WorkerConfig, recipes: Mapping[str, Recipe], session: aiohttp.ClientSession) -> None:
        self.config = config
        self.offers = offers(recipes)
        self._session = session
        self.built = 0
        self.failed = 0

    def _url(self, path: str) -> str:
        return self.config.proxy.rstrip("/") + path

    @property
    def _auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.config.token}"} if self.config.token else {}

    async def _post(self, path: str, body: dict[str, Any]) -> tuple[int, Any]:
        async with self._session.post(self._url(path), json=body, headers=self._auth) as r:
            data = await r.json() if r.content_type == "application/json" else None
            return r.status, data

    async def run(self, *, once: bool = False) -> None:
        """Claim and build until cancelled (``once``: until one build ended)."""
        if not self.offers:
            raise RecipeError("no recipe can run on this machine (see the log for why)")
        claim = await self.claim(0)  # the first claim also registers this worker's targets with the proxy
        log.info("build worker ready", extra={"worker": self.config.name, "offers": self.offers})
        while True:
            if claim is None:
                try:
                    claim = await self.claim(CLAIM_WAIT)
                except (aiohttp.ClientError, Refused) as exc:
                    if isinstance(exc, Refused) and exc.status in (400, 401, 403, 404):
                        raise
                    log.warning("cannot reach the proxy", extra={"error": str(exc)})
                    await asyncio.sleep(RETRY)
                    continue
            if claim is not None:
                await self.build(claim)
                claim = None
                if once:
                    return

    async def claim(self, wait: float, keys: Sequence[str] | None = None) -> Claim | None:
        body: dict[str, Any] = {"worker": self.config.name, "offers": self.offers, "wait": wait}
        if keys is not None:
            body["keys"] = list(keys)
        status, data = await self._post("/v1/builds/claim", body)
        if status == 204:
            return None
        if status != 200:
            raise Refused(status, str(data))
        return Claim.model_validate(data)

    async def build(self, claim: Claim) -> bool:
        """Build one claim; True when the artifact was uploaded."""
        base = self.config.workdir / f"{claim.key[:16]}-{claim.token}"
        scratch, sources, logfile = base / "scratch", base / "sources", base / "build.log"
        scratch.mkdir(parents=True, exist_ok=True)
        sources.mkdir(exist_ok=True)
        log.info("build started", extra={"key": claim.key, "recipe": claim.manifest.recipe.name,
                                         "token": claim.token})
        renewal = asyncio.create_task(self._renew(claim))
        try:
            work = asyncio.create_task(self._build(claim, scratch, sources, logfile))
            done, _ = await asyncio.wait({work, renewal}, return_when=asyncio.FIRST_COMPLETED)
            if work not in done:  # the lease is lost: stop at once, upload nothing
                work.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await work
                log.warning("build abandoned: another worker holds it now", extra={"key": claim.key})
                return False
            output = work.result()
            await self._upload(claim, output)
            self.built += 1
            log.info("build uploaded", extra={"key": claim.key})
            return True
        except RecipeError as exc:
            await self._fail(claim, str(exc), logfile)
            return False
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            await self._fail(claim, f"{type(exc).__name__}: {exc}", logfile)
            return False
        finally:
            renewal.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await renewal
            shutil.rmtree(base, ignore_errors=True)

    async def _build(self, claim: Claim, scratch: Path, sources: Path, logfile: Path) -> Path:
        paths = await self._fetch_sources(claim, sources)
        job = BuildInput(sources=tuple(paths), names=claim.names, options=claim.manifest.recipe.options,
                         scratch=scratch, deadline=time.monotonic() + self.config.timeout, log=logfile)
        return await run_build(claim.manifest.recipe.name, self.config.modules, job)

    async def _fetch_sources(self, claim: Claim, into: Path) -> list[Path]:
        paths = []
        for i, digest in enumerate(claim.manifest.sources):
            name = claim.names[i] if i < len(claim.names) else digest.hex
            folder = into / str(i)
            folder.mkdir()
            path = folder / (_SAFE_NAME.sub("_", Path(name).name) or digest.hex)
            await self._download(digest, path)
            paths.append(path)
        return paths

    async def _download(self, digest: Digest, path: Path) -> None:
        hasher = blake3.blake3()
        async with self._session.get(self._url(f"/v1/blobs/{digest.hex}"), headers=self._auth) as r:
            if r.status != 200:
                raise RecipeError(f"source {digest} could not be fetched from the proxy: {r.status}")
            with open(path, "wb") as f:
                async for chunk in r.content.iter_chunked(CHUNK):
                    hasher.update(chunk)
                    f.write(chunk)
        if hasher.hexdigest() != digest.hex:
            raise RecipeError(f"source {digest} arrived corrupted")

    async def _renew(self, claim: Claim) -> None:
        """Renew every quarter TTL; return (ending the build) when the lease is lost."""
        while True:
            await asyncio.sleep(claim.ttl / 4)
            try:
                status, _ = await self._post(f"/v1/builds/{claim.key}/renew", {"token": claim.token})
            except aiohttp.ClientError as exc:
                log.warning("lease renewal failed", extra={"error": str(exc)})
                continue
            if status == 409:
                return

    async def _upload(self, claim: Claim, output: Path) -> None:
        digest, size = await asyncio.get_running_loop().run_in_executor(None, _blake3_file, output)
        manifest = {**claim.manifest.canonical(), "names": list(claim.names)}
        headers = {**self._auth, "X-MM-Artifact-Manifest": json.dumps(manifest, separators=(",", ":")),
                   "X-MM-Artifact-Digest": str(digest), "Content-Length": str(size),
                   "Content-Type": "application/octet-stream"}
        with open(output, "rb") as f:
            async with self._session.put(self._url(f"/v1/artifacts/{claim.key}"), data=f, headers=headers) as r:
                if r.status not in (200, 201):
                    raise RecipeError(f"the proxy refused the upload: {r.status} {(await r.text())[:500]}")

    async def _fail(self, claim: Claim, error: str, logfile: Path) -> None:
        self.failed += 1
        log.warning("build failed", extra={"key": claim.key, "error": error})
        with contextlib.suppress(aiohttp.ClientError):
            await self._post(f"/v1/builds/{claim.key}/fail", {"token": claim.token, "error": error,
                                                               "log_tail": log_tail(logfile)})


def _blake3_file(path: Path) -> tuple[Digest, int]:
    hasher = blake3.blake3(max_threads=blake3.blake3.AUTO)
    size = path.stat().st_size
    if size:
        hasher.update_mmap(path)
    return Digest(hasher.hexdigest()), size


async def serve(config: WorkerConfig, recipes: Mapping[str, Recipe], *, once: bool = False) -> int:
    """Run a worker until SIGTERM/SIGINT (a build in progress is killed; its lease lapses and
    another worker takes it over) or, with ``once``, until one build ended."""
    timeout = aiohttp.ClientTimeout(total=None, sock_connect=10, sock_read=CLAIM_WAIT + 30)
    task = asyncio.current_task()
    assert task is not None
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, task.cancel)
    try:
        async with aiohttp.ClientSession(timeout=timeout) as session:
            await BuildWorker(config, recipes, session).run(once=once)
    except asyncio.CancelledError:
        log.info("build worker stopped", extra={"worker": config.name})
    return 0


def worker_modules(given: Sequence[str]) -> tuple[str, ...]:
    return tuple(m.strip() for item in given for m in item.split(",") if m.strip())
