"""The HF adapter's catalog: a repo (or a folder or file in it) at a commit, listed from the tree API.

Files get the same keys and ``HubFileSource`` as ``/resolve`` requests, and their metadata is
remembered as if a client had asked for it, so a client that follows a prefetch is answered
without a single upstream request for files.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import aiohttp
from yarl import URL

from adapters.hf import wire
from adapters.hf.client import HubClient, HubFileSource
from adapters.hf.files import FileInfo, content_key
from adapters.hf.repo import RepoRef, is_commit, quote_revision
from adapters.hf.routes import HfFrontend
from adapters.hf.urls import GRAMMAR, HfUrl
from proxy.control.catalog import Snapshot, SnapshotFile
from proxy.control.urls import ModelUrl
from proxy.errors import UpstreamUnavailable

MAX_PAGES = 1000


class HfCatalog:
    def __init__(self, frontend: HfFrontend, session: Callable[[], aiohttp.ClientSession]) -> None:
        self._frontend = frontend
        self._session = session

    grammar = GRAMMAR
    watchable = True

    def _client(self) -> HubClient:
        return HubClient(self._session(), self._frontend.endpoint)

    async def current(self, url: ModelUrl) -> str:
        assert isinstance(url, HfUrl)
        info = await self._info(_repo(url), url.ref, None)
        return str(info["sha"])

    def hold(self, url: ModelUrl, version: str | None, public: bool) -> None:
        assert isinstance(url, HfUrl)
        state, repo = self._frontend.state, _repo(url)
        if version is not None and public:
            state.allow(repo, None)
        if is_commit(url.ref):
            return
        if version is None:
            state.held.pop((repo, url.ref), None)
        else:
            state.held[(repo, url.ref)] = version
            state.revisions.put((repo, url.ref), version)

    async def snapshot(self, url: ModelUrl, token: str | None) -> Snapshot:
        assert isinstance(url, HfUrl)
        repo = _repo(url)
        info = await self._info(repo, url.ref, token)
        commit = str(info["sha"])
        if not is_commit(commit):
            raise UpstreamUnavailable("Hub answered repo info without a commit sha")
        state = self._frontend.state
        public = info.get("private") is False and info.get("gated") is False
        if public:
            state.allow(repo, None)  # the Hub says anyone may read it
        fill_token = token or self._frontend.own_token
        files = []
        for entry in await self._tree(repo, commit, token):
            path = entry["path"]
            if entry.get("type") != "file" or not _under(path, url.path):
                continue
            lfs = entry.get("lfs") or {}
            info_ = FileInfo(repo, commit, path, int(entry["size"]), entry.get("oid"), lfs.get("oid"))
            state.remember_file(info_)
            relative = path[len(url.path) + 1:] if url.path and path != url.path else path
            files.append(SnapshotFile(relative, info_.size, HubFileSource(self._client(), info_, fill_token), None))
        prefix = content_key(repo, commit, url.path or "")
        return Snapshot(url.at(commit), commit, tuple(files), (prefix,), public)

    async def _info(self, repo: RepoRef, revision: str, token: str | None) -> dict[str, Any]:
        answer = await self._client().api("GET", f"/{repo.api_prefix}/revision/{quote_revision(revision)}", token)
        if answer.status != 200:
            raise wire.rejection(answer.status, answer.headers, answer.body)
        data = json.loads(answer.body)
        if not isinstance(data, dict):
            raise UpstreamUnavailable("Hub answered repo info with something else than an object")
        return data

    async def _tree(self, repo: RepoRef, commit: str, token: str | None) -> list[dict[str, Any]]:
        client = self._client()
        raw = f"/{repo.api_prefix}/tree/{commit}?recursive=true"
        entries: list[dict[str, Any]] = []
        for _ in range(MAX_PAGES):
            answer = await client.api("GET", raw, token)
            if answer.status != 200:
                raise wire.rejection(answer.status, answer.headers, answer.body)
            entries.extend(json.loads(answer.body))
            following = _next_link(answer.headers.get("Link", ""))
            if following is None:
                return entries
            raw = following.raw_path_qs
        raise UpstreamUnavailable("Hub tree listing has too many pages")


def _repo(url: HfUrl) -> RepoRef:
    return RepoRef(url.repo_type, url.repo_id)


def _under(path: str, folder: str | None) -> bool:
    return folder is None or path == folder or path.startswith(folder.rstrip("/") + "/")


def _next_link(link: str) -> URL | None:
    for part in link.split(","):
        if 'rel="next"' in part and "<" in part and ">" in part:
            return URL(part[part.index("<") + 1:part.index(">")])
    return None


