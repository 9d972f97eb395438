"""The artifact routes of the control API: store, serve and list derived artifacts; request,
claim and report builds (see docs/artifacts.md).

    PUT    /v1/artifacts/{key}       body = the bytes; X-MM-Artifact-Manifest (JSON), X-MM-Artifact-Digest
    GET    /v1/artifacts/{key}       [?wait=seconds] the bytes (Range, conditionals); HEAD likewise
    GET    /v1/artifacts             [?source=blake3:..][&recipe=name] what is stored, for which targets
    POST   /v1/builds                request a build -> {key, state}
    GET    /v1/builds                every build record;   GET /v1/builds/{key}[?wait=seconds]
    POST   /v1/builds/claim          a build worker asks for work (long poll) -> 200 claim | 204
    POST   /v1/builds/{key}/renew    the worker's lease goes on (409: another worker holds it now)
    POST   /v1/builds/{key}/fail     the build failed: error and log tail for every waiter
    GET    /v1/blobs/{digest}        a committed blob by digest (a build's sources)

Everything needs the admin token, except reads of artifacts (``GET``/``HEAD`` of
``/v1/artifacts...``) with ``--artifact-open-reads``.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from aiohttp import web
from pydantic import ValidationError

from proxy.artifacts.builds import Builds, BuildView
from proxy.artifacts.key import Manifest
from proxy.artifacts.recipe import Recipe, RecipeError
from proxy.artifacts.sources import resolve
from proxy.artifacts.store import ArtifactStore
from proxy.config import Settings
from proxy.control.catalog import Catalogs
from proxy.control.guard import Guard, Refused, query_number, read_json
from proxy.control.schema import (
    BuildFailedBody,
    BuildRenewed,
    BuildRequest,
    ClaimRequest,
    ErrorBody,
    FailRequest,
    NotBuilt,
    RenewRequest,
    parse,
)
from proxy.digest import Digest
from proxy.errors import (
    Answered,
    Forbidden,
    InsufficientStorage,
    IntegrityError,
    InvalidDigest,
    InvalidKey,
    PreconditionFailed,
    ProxyError,
    RangeNotSatisfiable,
    Unmodified,
    UpstreamRejected,
)
from proxy.read.core import Core
from proxy.storage.index import IndexEntry

log = logging.getLogger(__name__)

MANIFEST_HEADER = "X-MM-Artifact-Manifest"
DIGEST_HEADER = "X-MM-Artifact-Digest"
MAX_WAIT = 300.0
"""Longest long-poll of ``?wait=`` on artifacts and builds."""
FRONTEND = "artifacts"
NO_WORKER_RETRY = 30
"""Retry-After (seconds) when no live build worker offers an artifact's target."""
_ANSWERED: Mapping[type[Answered], int] = {Unmodified: 304, PreconditionFailed: 412, RangeNotSatisfiable: 416}

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class ArtifactRoutes:
    name = "artifacts"

    def __init__(self, settings: Settings, artifacts: ArtifactStore, builds: Builds, catalogs: Catalogs | None,
                 guard: Guard, recipes: Mapping[str, Recipe]) -> None:
        self.settings = settings
        self.artifacts = artifacts
        self.builds = builds
        self.catalogs = catalogs
        self.recipes = recipes
        self._door = guard
        self._core: Core | None = None

    def setup(self, app: web.Application, core: Core) -> None:
        self._core = core
        reads = self.settings.artifact_open_reads
        r = app.router
        r.add_put("/v1/artifacts/{key}", self._guard(self.put))
        r.add_get("/v1/artifacts/{key}", self._guard(self.get, open_=reads))
        r.add_get("/v1/artifacts", self._guard(self.list, open_=reads))
        r.add_post("/v1/builds", self._guard(self.request_build))
        r.add_get("/v1/builds", self._guard(self.list_builds))
        r.add_post("/v1/builds/claim", self._guard(self.claim))
        r.add_get("/v1/builds/{key}", self._guard(self.get_build))
        r.add_post("/v1/builds/{key}/renew", self._guard(self.renew))
        r.add_post("/v1/builds/{key}/fail", self._guard(self.fail))
        r.add_get("/v1/blobs/{digest}", self._guard(self.blob))
        app.on_shutdown.append(self._stop)

    async def _stop(self, app: web.Application) -> None:
        self.builds.stop()  # long polls answer now instead of holding the drain

    @property
    def core(self) -> Core:
        assert self._core is not None, "setup() first"
        return self._core

    def _guard(self, handler: Handler, *, open_: bool = False) -> Handler:
        async def guarded(request: web.Request) -> web.StreamResponse:
            try:
                if not open_:
                    self._door.check(request)
                return await handler(request)
            except Refused as exc:
                return exc.response()
            except Answered as exc:
                return web.Response(status=_ANSWERED[type(exc)], headers=exc.headers)
            except UpstreamRejected as exc:
                return _error(exc.status, f"upstream answered {exc.status}: {exc.body[:200].decode(errors='replace')}")
            except (IntegrityError, InvalidKey, RecipeError, ValueError, KeyError, TypeError) as exc:
                return _error(400, str(exc))
            except InsufficientStorage as exc:
                return _error(507, str(exc))
            except Forbidden as exc:
                return _error(403, str(exc))
            except ProxyError as exc:
                return _error(502, str(exc))

        return guarded

    # -- artifacts ------------------------------------------------------------------------------

    async def put(self, request: web.Request) -> web.Response:
        key = _key(request.match_info["key"])
        manifest, names = _manifest(request.headers.get(MANIFEST_HEADER))
        if manifest.key != key:
            raise InvalidKey(f"the key {key.hex} is not the manifest's ({manifest.key.hex}): recompute it")
        digest = Digest.parse(_required(request, DIGEST_HEADER))
        size = request.content_length
        if size is None:
            raise Refused(411, "Content-Length is required (the artifact's size)")
        if (existing := await self.artifacts.get(key)) is not None and existing.entry.digest == digest:
            await request.content.readany()  # already stored: these bytes are not needed
            return web.json_response(existing.to_json(), status=200)
        artifact = await self.artifacts.put(manifest, names, size, digest, request.content.iter_chunked(1 << 20))
        await self.builds.stored(artifact)
        log.info("artifact stored", extra={"key": key.hex, "recipe": manifest.recipe.name, "size": size})
        return web.json_response(artifact.to_json(), status=201)

    async def get(self, request: web.Request) -> web.StreamResponse:
        key = _key(request.match_info["key"])
        wait = query_number(request, "wait", low=0.0, high=MAX_WAIT, default=0.0)
        answer = await self.core.serve_committed(request, f"artifact:{key.hex}", FRONTEND)
        if answer is not None:
            return answer
        state = await (self.builds.wait(key, wait) if wait > 0 else self.builds.state(key))
        if state.state == "ready":
            answer = await self.core.serve_committed(request, f"artifact:{key.hex}", FRONTEND)
            if answer is not None:
                return answer
        return _not_served(state)

    async def list(self, request: web.Request) -> web.Response:
        source_text = request.query.get("source")
        source = Digest.parse(source_text) if source_text else None
        found = await self.artifacts.find(source, request.query.get("recipe") or None)
        return web.json_response([a.to_json() for a in found])

    async def blob(self, request: web.Request) -> web.StreamResponse:
        digest = Digest.parse(request.match_info["digest"])
        entry = IndexEntry(key=f"blob:{digest.hex}", digest=digest, size=0, etag=f'"{digest.hex}"', immutable=True)
        answer = await self.core.serve_committed(request, entry, FRONTEND)
        return answer if answer is not None else _error(404, f"{digest} is not on the cache volume")

    # -- builds ---------------------------------------------------------------------------------

    async def request_build(self, request: web.Request) -> web.Response:
        body = parse(BuildRequest, await read_json(request))
        recipe = self.recipes.get(body.recipe)
        if recipe is None:
            raise InvalidKey(f"unknown recipe {body.recipe!r}: this proxy knows {sorted(self.recipes) or 'none'} "
                             "(--recipe-modules, entry points modelmanager.recipes)")
        options = recipe.canonical_options(body.options)
        target = body.target if body.target is not None else await self._one_target(body.recipe)
        resolved = await resolve(body.sources, body.names, self.catalogs, self.core, self.artifacts.cache, body.token)
        manifest = Manifest.model_validate({"sources": [str(d) for d in resolved.digests], "target": target,
                                            "recipe": {"name": recipe.name, "options": options}})
        view = await self.builds.request(manifest, resolved.names, retry=body.retry)
        return web.json_response(view.model_dump(mode="json"), status=200 if view.state == "ready" else 202,
                                 headers={"Location": f"/v1/artifacts/{view.key}"})

    async def _one_target(self, recipe: str) -> dict[str, str]:
        targets = await self.builds.targets(recipe)
        if len(targets) != 1:
            seen = "no build worker offering it has been seen lately" if not targets else f"workers offer {targets}"
            raise InvalidKey(f"name the target to build {recipe} for: {seen}")
        return targets[0]

    async def list_builds(self, request: web.Request) -> web.Response:
        return web.json_response([r.model_dump(mode="json") for r in await self.builds.records()])

    async def get_build(self, request: web.Request) -> web.Response:
        key = _key(request.match_info["key"])
        wait = query_number(request, "wait", low=0.0, high=MAX_WAIT, default=0.0)
        view = await (self.builds.wait(key, wait) if wait > 0 else self.builds.state(key))
        return web.json_response(view.model_dump(mode="json"))

    async def claim(self, request: web.Request) -> web.Response:
        body = parse(ClaimRequest, await read_json(request))
        keys = frozenset(_key(k).hex for k in body.keys) if body.keys is not None else None
        claim = await self.builds.claim(body.worker, body.offers, body.wait, keys)
        if claim is None:
            return web.Response(status=204)
        log.info("build claimed", extra={"key": claim.key, "worker": body.worker, "token": claim.token})
        return web.json_response(claim.model_dump(mode="json"))

    async def renew(self, request: web.Request) -> web.Response:
        key = _key(request.match_info["key"])
        body = parse(RenewRequest, await read_json(request))
        if not await self.builds.renew(key, body.token):
            return _error(409, "the lease expired or another worker holds this build now: stop building")
        return web.json_response(BuildRenewed(key=key.hex, renewed=True).model_dump())

    async def fail(self, request: web.Request) -> web.Response:
        key = _key(request.match_info["key"])
        body = parse(FailRequest, await read_json(request))
        if not await self.builds.fail(key, body.token, body.error, body.log_tail):
            return _error(409, "the lease expired or another worker holds this build now")
        log.warning("build failed", extra={"key": key.hex, "error": body.error[:500]})
        return web.json_response((await self.builds.state(key)).model_dump(mode="json"))


def _key(text: str) -> Digest:
    try:
        return Digest.parse(text)
    except InvalidDigest as exc:
        raise InvalidKey(f"an artifact key is 64 lowercase hex characters: {text[:80]!r}") from exc


def _required(request: web.Request, name: str) -> str:
    value = request.headers.get(name)
    if not value:
        raise InvalidKey(f"the {name} header is required")
    return value


def _manifest(text: str | None) -> tuple[Manifest, tuple[str, ...]]:
    """The upload's manifest header: ``{"sources", "target", "recipe": {"name", "options"}, "names"?}``."""
    if not text:
        raise InvalidKey(f"the {MANIFEST_HEADER} header is required (sources, target, recipe as JSON)")
    try:
        data: Any = json.loads(text)
        if not isinstance(data, dict):
            raise ValueError("not an object")
        names = data.pop("names", [])
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            raise ValueError("names must be a list of strings")
        return Manifest.model_validate(data), tuple(names)
    except (ValueError, ValidationError) as exc:
        raise InvalidKey(f"{MANIFEST_HEADER} is not a valid manifest: {str(exc)[:500]}") from exc


def _not_served(state: BuildView) -> web.Response:
    if state.state == "failed":
        failed = BuildFailedBody(error=f"the build failed: {state.error}", state="failed", log_tail=state.log_tail)
        return web.json_response(failed.model_dump(), status=502)
    if state.state == "no_worker":
        assert state.manifest is not None
        offered = state.offered or []
        message = (f"no build worker for this target: no live worker offers {state.manifest.recipe.name} for "
                   f"{json.dumps(state.manifest.target, sort_keys=True)}; "
                   + (f"live workers offer {json.dumps(offered, sort_keys=True)}" if offered
                      else "no live worker offers this recipe")
                   + ". The build stays requested: a worker that offers this target will build it")
        body = NotBuilt(error=message, state="no_worker", offered=offered, recipe=state.manifest.recipe.name,
                        target=state.manifest.target)
        return web.json_response(body.model_dump(), status=503, headers={"Retry-After": str(NO_WORKER_RETRY)})
    message = {"unknown": "no such artifact, and no build of it was requested",
               "pending": "the artifact is not built yet: its build waits for a worker",
               "building": "the artifact is being built"}.get(state.state, "not stored")
    body = NotBuilt(error=message, state="unknown" if state.state == "ready" else state.state)
    return web.json_response(body.model_dump(), status=404,
                             headers={"Retry-After": "5"} if state.state != "unknown" else {})


def _error(status: int, message: str) -> web.Response:
    return web.json_response(ErrorBody(error=message).model_dump(), status=status)
