"""Derived artifacts from the client: ``get_artifact`` returns a local path to a compiled engine or
compiler cache, built once per cluster by a build worker (see docs/artifacts.md).

It requests the build (``POST /v1/builds``; a stored artifact answers at once), waits on it with
long polls (``GET /v1/artifacts/{key}?wait=``), and downloads it next to earlier ones under
``dest`` (default ``$MODELMANAGER_ARTIFACTS``, else ``~/.cache/modelmanager/artifacts``), named by
its key and verified against its blake3 digest. A key names one output for one target, so a file
already there is used without asking the proxy again. A failed build raises ``BuildFailed`` with
the builder's log tail; a build no live build worker can run (none offers its recipe for its
target) raises ``NoBuildWorker`` at once, naming the target and the targets the workers do offer.

Where the server package is installed too (a GPU node running ``modelmanager`` or its recipes),
``target="auto"`` asks for this machine's own fingerprint, and ``build_locally=True`` lets this
node build the artifact itself when it is still pending: it takes the build's lease like a worker
(so it is still built once per cluster) and uploads the output. Otherwise neither imports any
server code.
"""

from __future__ import annotations

import asyncio
import http.client
import importlib
import json
import os
import re
import socket
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

import blake3

from modelmanager_client.errors import AccessDenied, ClientError, IntegrityError, NotFound, ProxyUnavailable
from modelmanager_client.info import proxy_base

TOKEN_ENV = "MODELMANAGER_ADMIN_TOKEN"
DEST_ENV = "MODELMANAGER_ARTIFACTS"
POLL = 60.0
CHUNK = 1 << 20


class BuildFailed(ClientError):
    """The artifact's build failed; ``log_tail`` is the end of the builder's log."""

    def __init__(self, message: str, log_tail: str | None) -> None:
        super().__init__(message)
        self.log_tail = log_tail or ""


class NoBuildWorker(ClientError):
    """No live build worker offers the recipe for ``target``; ``offered`` are the targets they do
    offer for it. The build stays requested: a worker that offers ``target`` will build it."""

    def __init__(self, recipe: str, target: Mapping[str, str] | None, offered: Sequence[Mapping[str, str]]) -> None:
        seen = (f"live workers offer it for {json.dumps(list(offered), sort_keys=True)}" if offered
                else "no live worker offers this recipe at all")
        super().__init__(f"no build worker offers {recipe} for target {json.dumps(target, sort_keys=True)}: {seen}")
        self.recipe = recipe
        self.target = dict(target) if target is not None else None
        self.offered = [dict(t) for t in offered]


def default_dest() -> Path:
    return Path(os.environ.get(DEST_ENV) or Path.home() / ".cache" / "modelmanager" / "artifacts")


def get_artifact(sources: str | Sequence[str], recipe: str, *, options: Mapping[str, Any] | None = None,
                 target: Mapping[str, str] | Literal["auto"] | None = "auto", host: str | None = None,
                 token: str | None = None, dest: str | Path | None = None, timeout: float = 3600.0,
                 build_locally: bool = False, recipe_modules: Sequence[str] = ()) -> Path:
    """The local path of ``recipe`` applied to ``sources`` (model URLs or ``blake3:<hex>`` digests).

    ``target``: the machine fingerprint to build for; ``"auto"``: this machine's, where the recipe is
    installed here, else (like None) the one the proxy's build workers offer. ``token``: the admin
    token (default ``$MODELMANAGER_ADMIN_TOKEN``). ``build_locally``: build it here if it is pending
    (needs the recipe installed here; ``recipe_modules`` as ``build-worker --recipe-module``). Raises
    BuildFailed, NoBuildWorker (no live build worker offers the recipe for the target, and this node
    does not build it), NotFound, AccessDenied, ProxyUnavailable, IntegrityError, or TimeoutError
    after ``timeout`` seconds."""
    base, secret = proxy_base(host), token or os.environ.get(TOKEN_ENV)
    api = _Api(base, secret)
    local = _local_recipe(recipe, recipe_modules) if target == "auto" or build_locally else None
    if target == "auto":
        target = local.target() if local is not None else None
    body = {"sources": [sources] if isinstance(sources, str) else list(sources), "recipe": recipe,
            "options": dict(options or {}), "target": dict(target) if target is not None else None}
    status, answer = api.json("POST", "/v1/builds", body)
    if status not in (200, 202):
        raise _error(status, answer, f"build request for {recipe}")
    key = str(answer["key"])
    folder = Path(dest) if dest is not None else default_dest()
    path = folder / key
    if path.is_file():
        return path
    if answer["state"] == "failed":
        raise BuildFailed(f"the build of {key} failed: {answer.get('error')}", answer.get("log_tail"))
    if build_locally and local is not None and answer["state"] in ("pending", "no_worker"):
        _build_here(base, secret, key, recipe, local, recipe_modules, timeout)
    elif answer["state"] == "no_worker":
        raise _no_worker(answer)
    deadline = time.monotonic() + timeout
    while True:
        wait = max(0.0, min(POLL, deadline - time.monotonic()))
        if api.download(f"/v1/artifacts/{key}?wait={wait:.1f}", path):
            return path
        if time.monotonic() >= deadline:
            raise TimeoutError(f"the artifact {key} was not built within {timeout:g} seconds")


def _local_recipe(recipe: str, modules: Sequence[str]) -> Any:
    """The recipe, where the server package is installed here and the recipe can run; else None."""
    try:
        registry = importlib.import_module("proxy.artifacts.recipe").registry
    except ImportError:
        return None
    found = registry(tuple(modules)).get(recipe)
    return found if found is not None and found.available() is None else None


def _build_here(base: str, token: str | None, key: str, name: str, recipe: Any, modules: Sequence[str],
                timeout: float) -> None:
    """Build ``key`` on this node as a one-off build worker would: under the build's lease (if
    another worker took it first, nothing happens here), then upload it."""
    worker = importlib.import_module("proxy.artifacts.worker")
    aiohttp = importlib.import_module("aiohttp")
    node = re.sub(r"[^A-Za-z0-9._-]", "-", f"client-{socket.gethostname()}")[:63]

    async def run() -> None:
        with tempfile.TemporaryDirectory(prefix="mm-client-build-") as work:
            config = worker.WorkerConfig(proxy=base, token=token, name=node, workdir=Path(work), timeout=timeout,
                                         modules=tuple(modules))
            async with aiohttp.ClientSession() as session:
                builder = worker.BuildWorker(config, {name: recipe}, session)
                claim = await builder.claim(0, [key])
                if claim is not None:
                    await builder.build(claim)

    asyncio.run(run())


class _Api:
    def __init__(self, base: str, token: str | None) -> None:
        parts = urlsplit(base)
        self._https = parts.scheme == "https"
        self._netloc = parts.netloc
        self._prefix = parts.path.rstrip("/")
        self._headers = {"Authorization": f"Bearer {token}"} if token else {}

    def _connection(self) -> http.client.HTTPConnection:
        cls = http.client.HTTPSConnection if self._https else http.client.HTTPConnection
        return cls(self._netloc, timeout=POLL + 60)

    def json(self, method: str, path: str, body: dict[str, Any]) -> tuple[int, Any]:
        conn = self._connection()
        try:
            conn.request(method, self._prefix + path, body=json.dumps(body).encode(),
                         headers={**self._headers, "Content-Type": "application/json"})
            response = conn.getresponse()
            data = response.read()
            return response.status, json.loads(data) if data else None
        except (OSError, http.client.HTTPException) as exc:
            raise ProxyUnavailable(f"cannot reach the proxy at {self._netloc}: {exc}") from exc
        finally:
            conn.close()

    def download(self, path: str, into: Path) -> bool:
        """True when the artifact was saved to ``into``; False while its build runs."""
        conn = self._connection()
        try:
            conn.request("GET", self._prefix + path, headers=self._headers)
            response = conn.getresponse()
            if response.status != 200:
                data = response.read()
                answer = json.loads(data) if data.startswith(b"{") else {}
                if response.status == 404 and answer.get("state") in ("pending", "building"):
                    return False
                if response.status == 503 and answer.get("state") == "no_worker":
                    raise _no_worker(answer)
                if response.status == 502 and answer.get("state") == "failed":
                    raise BuildFailed(answer.get("error", "the build failed"), answer.get("log_tail"))
                raise _error(response.status, answer, path)
            _save(response, into, response.getheader("X-MM-Blob-Digest", ""))
            return True
        except (OSError, http.client.HTTPException) as exc:
            raise ProxyUnavailable(f"cannot reach the proxy at {self._netloc}: {exc}") from exc
        finally:
            conn.close()


def _save(response: http.client.HTTPResponse, into: Path, digest: str) -> None:
    """Write the body to a temp file next to ``into``, check its blake3, then rename it into place."""
    into.parent.mkdir(parents=True, exist_ok=True)
    hasher = blake3.blake3()
    fd, tmp = tempfile.mkstemp(dir=into.parent, prefix=".partial-")
    try:
        with os.fdopen(fd, "wb") as f:
            while chunk := response.read(CHUNK):
                hasher.update(chunk)
                f.write(chunk)
        if digest.removeprefix("blake3:") != hasher.hexdigest():
            raise IntegrityError(f"the artifact {into.name} does not match its digest {digest}")
        os.replace(tmp, into)
    finally:
        Path(tmp).unlink(missing_ok=True)


def _no_worker(answer: Mapping[str, Any]) -> NoBuildWorker:
    """From ``POST /v1/builds`` (the manifest) or a 503 of ``GET /v1/artifacts/{key}`` (recipe, target)."""
    manifest = answer.get("manifest") or {}
    recipe = answer.get("recipe") or (manifest.get("recipe") or {}).get("name", "the recipe")
    return NoBuildWorker(str(recipe), answer.get("target") or manifest.get("target"), answer.get("offered") or [])


def _error(status: int, answer: Any, what: str) -> ClientError:
    message = answer.get("error", "") if isinstance(answer, dict) else ""
    if status in (401, 403):
        return AccessDenied(f"{what}: {status} {message}")
    if status == 404:
        return NotFound(f"{what}: {message}")
    if status >= 500:
        return ProxyUnavailable(f"{what}: {status} {message}")
    return ClientError(f"{what}: {status} {message}")
