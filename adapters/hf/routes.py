"""The Hub's routes, served from the cache: ``/{repo}/resolve/...`` and ``/api/...``."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from aiohttp import web
from yarl import URL

from adapters.hf import wire
from adapters.hf.client import ApiAnswer, HubClient, HubFileSource
from adapters.hf.files import FileInfo, content_key
from adapters.hf.held import held_path
from adapters.hf.repo import ApiTarget, ResolveTarget, is_commit, parse_api, parse_resolve, split_raw
from adapters.hf.state import HubState, api_key
from adapters.hf.state import token_id as _tid
from proxy.errors import InvalidCredentials, InvalidKey, ProxyError, UpstreamRejected, UpstreamUnavailable
from proxy.read.core import Core, ReadPolicy
from proxy.singleflight import SingleFlight
from proxy.upstream import Frontend

log = logging.getLogger(__name__)

_CACHED_ACTIONS = ("info", "revision", "tree", "paths-info")
_API_HEADERS = ("Content-Type", wire.ERROR_CODE, wire.ERROR_MESSAGE, wire.REPO_COMMIT, "X-Request-Id",
                "Retry-After", "RateLimit", "RateLimit-Policy", "X-Total-Count")
_DENIED_CODES = ("RepoNotFound", "GatedRepo")


def bearer(request: web.Request) -> str | None:
    auth = request.headers.get("Authorization", "")
    scheme, _, token = auth.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        return None
    if not (token.isascii() and token.isprintable()):  # the Hub's tokens are ASCII; never hash or forward others
        raise InvalidCredentials("Invalid credentials in Authorization header")
    return token


class HfFrontend:
    name = "hf"
    core: Core
    """The core's facade, given in ``setup``."""
    policy = ReadPolicy(name, max_age=None, redirect_ok=True)  # access is checked before any hop

    def __init__(self, endpoint: URL, own_token: str | None, revision_ttl: float, access_ttl: float,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.endpoint = endpoint
        self.own_token = own_token
        self.revision_ttl = revision_ttl
        self.access_ttl = access_ttl
        self.state = HubState(clock)
        self.flights: SingleFlight[object] = SingleFlight()

    def setup(self, app: web.Application, core: Core) -> None:
        self.core = core
        app.router.add_get("/api/{tail:.*}", self.api, allow_head=False)
        app.router.add_route("POST", "/api/{tail:.*}", self.api)
        app.router.add_get(r"/{tail:.+/resolve/.+}", self.resolve)  # HEAD too

    def client(self) -> HubClient:
        return HubClient(self.core.session, self.endpoint)

    # -- files ------------------------------------------------------------------------------

    async def resolve(self, request: web.Request) -> web.StreamResponse:
        try:
            target = parse_resolve(split_raw(request.raw_path))
            token = bearer(request)
            client = self.client()
            info, stale = await self.locate(request, client, target, token)
            headers = {wire.REPO_COMMIT: info.commit}
            if info.lfs_sha256:
                headers[wire.LINKED_ETAG] = info.etag
                headers[wire.LINKED_SIZE] = str(info.size)
            if stale:
                headers[wire.STALE_WARNING] = '110 - "Hub unreachable: served from cache"'
            if request.method == "HEAD":  # never starts a fill
                return await self.core.head(request, info.key, info.meta(), self.policy, headers)
            source = HubFileSource(client, info, token or self.own_token)
            return await self.core.serve(request, source, self.policy, headers)
        except ProxyError as exc:
            return wire.error_response(exc)

    async def locate(self, request: web.Request, client: HubClient, target: ResolveTarget,
                     token: str | None) -> tuple[FileInfo, bool]:
        """The file's metadata at a commit, checked against this client's access. Second value:
        True when the Hub was unreachable and what we last knew was used (stale-if-error)."""
        state, repo = self.state, target.repo
        commit = target.revision if is_commit(target.revision) else (
            state.held.get((repo, target.revision)) or state.revisions.fresh((repo, target.revision),
                                                                             self.revision_ttl))
        info = await self._known(target, commit) if commit else None
        if info is not None:
            access = state.access.fresh((repo, _tid(token)), self.access_ttl)
            if access is not None and access.allowed:
                return info, False
            if access is not None and access.rejection is not None:
                raise access.rejection
        asked = ResolveTarget(repo, commit or target.revision, target.path)

        async def lookup() -> FileInfo:
            """The HEAD, and what it taught: remembered inside the flight, so a request that
            arrives once the flight is over finds it and asks nothing."""
            try:
                found = await client.file_info(asked, token)
            except UpstreamRejected as exc:
                if dict(exc.headers).get(wire.ERROR_CODE) in _DENIED_CODES:
                    state.deny(repo, token, exc)
                raise
            state.allow(repo, token)
            state.remember_file(found)
            if not is_commit(target.revision):
                state.revisions.put((repo, target.revision), found.commit)
            return found

        try:
            fresh = await self.flights.run(("head", asked, _tid(token)), lookup)
        except UpstreamUnavailable:
            return await self._offline(target, token)
        assert isinstance(fresh, FileInfo)
        return fresh, False

    async def _known(self, target: ResolveTarget, commit: str) -> FileInfo | None:
        info = self.state.files.fresh((target.repo, commit, target.path), None)
        if info is None:
            cached = await self.core.lookup(content_key(target.repo, commit, target.path))
            if cached is not None and (info := FileInfo.from_cached(target.repo, commit, target.path, cached)):
                self.state.remember_file(info)
        return info

    async def _offline(self, target: ResolveTarget, token: str | None) -> tuple[FileInfo, bool]:
        """The Hub is unreachable: serve what we last knew, to a client we last let in."""
        repo = target.repo
        commit = target.revision if is_commit(target.revision) else self.state.revisions.last((repo, target.revision))
        access = self.state.access.last((repo, _tid(token)))
        info = await self._known(target, commit) if commit else None
        if info is None or access is None or not access.allowed:
            raise UpstreamUnavailable("the Hub is unreachable and this file is not known to the cache")
        log.warning("Hub unreachable: serving from cache", extra={"repo": str(repo), "revision": target.revision,
                                                                   "commit": info.commit})
        return info, True

    # -- api --------------------------------------------------------------------------------

    async def api(self, request: web.Request) -> web.StreamResponse:
        try:
            if not request.raw_path.startswith("/api/"):  # absolute-form (http://host/api/...) or //host/api
                raise InvalidKey("the request target must be a path on this server")
            segments = split_raw(request.raw_path)[1:]
            if segments[:1] == ["agent-harnesses"]:
                return wire.error(404, None, "Not Found")
            target = parse_api(segments)
            if target is not None and target.action.startswith("xet-"):
                return wire.error(404, "EntryNotFound", "Xet is not available through this proxy; "
                                  "files are served over plain HTTP (set HF_HUB_DISABLE_XET=1 if a client asks)")
            answer, stale = await self._api_answer(request, target)
            return self._api_response(request, target, answer, stale)
        except ProxyError as exc:
            return wire.error_response(exc)

    def _ttl(self, target: ApiTarget | None) -> float | None:
        if target is None or target.action not in _CACHED_ACTIONS:
            return 0.0
        return None if target.revision and is_commit(target.revision) else self.revision_ttl

    async def _api_answer(self, request: web.Request, target: ApiTarget | None) -> tuple[ApiAnswer, bool]:
        token = bearer(request)
        body = await request.read() if request.method == "POST" else None
        raw_path = held_path(self.state, target, request.raw_path)
        key = api_key(_tid(token), request.method, raw_path, body)
        ttl = self._ttl(target)
        if ttl != 0.0 and (cached := self.state.api.fresh(key, ttl)) is not None:
            return cached, False
        client = self.client()
        content_type = request.headers.get("Content-Type")

        async def ask() -> ApiAnswer:
            """The upstream call, remembered inside the flight (see ``locate``)."""
            found = await client.api(request.method, raw_path, token, data=body, content_type=content_type)
            if found.status == 200 and ttl != 0.0:
                self.state.api.put(key, found)
                if target is not None and target.action == "revision" and target.revision:
                    sha = json.loads(found.body).get("sha")
                    if isinstance(sha, str) and is_commit(sha):
                        self.state.revisions.put((target.repo, target.revision), sha)
            return found

        try:
            answer = await self.flights.run(("api", key), ask)
        except UpstreamUnavailable:
            if (last := self.state.api.last(key)) is None:
                raise
            return last, True
        assert isinstance(answer, ApiAnswer)
        return answer, False

    def _api_response(self, request: web.Request, target: ApiTarget | None, answer: ApiAnswer,
                      stale: bool) -> web.Response:
        body = answer.body
        if answer.status == 200 and target is not None and target.action in ("tree", "paths-info"):
            body = json.dumps(wire.strip_xet_json(json.loads(body))).encode()
        headers = {h: answer.headers[h] for h in _API_HEADERS if h in answer.headers}
        if link := answer.headers.get("Link"):
            link = wire.strip_xet_links(wire.rewrite_origins(link, self.endpoint, request.url.origin()))
            if link:
                headers["Link"] = link
        if stale:
            headers[wire.STALE_WARNING] = '110 - "Hub unreachable: served from cache"'
        return web.Response(status=answer.status, body=body, headers=headers)


if TYPE_CHECKING:
    _: type[Frontend] = HfFrontend
