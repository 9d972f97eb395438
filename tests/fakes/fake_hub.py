"""A Hugging Face Hub emulator: a real aiohttp server, plus a separate "CDN" server for LFS bytes.

It reproduces what ``huggingface_hub`` 2.4 relies on (see docs/hf-protocol.md for the list and
where each behaviour comes from): ``/resolve`` with X-Repo-Commit / ETag (git blob sha1) /
X-Linked-Etag (LFS sha256) / X-Linked-Size, LFS files as a 302 to another origin, Xet hints on
xet-flavoured repos, repo info, the tree API with ``Link: rel="next"`` pagination, paths-info, and
the Hub's error codes and status codes for anonymous and authenticated callers. It counts requests
so tests can assert exact upstream traffic.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import secrets
from dataclasses import dataclass, field
from urllib.parse import unquote

from aiohttp import web
from multidict import MultiDict
from yarl import URL

LFS_THRESHOLD = 1024  # files at least this large are stored as LFS in the emulator


def git_blob_sha1(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\x00" % len(data) + data).hexdigest()


@dataclass
class HubFile:
    content: bytes
    lfs: bool
    corrupt: bool = False
    """The CDN serves these bytes with the last one flipped: a lying upstream."""

    @property
    def oid(self) -> str:
        if self.lfs:  # the git blob is the pointer file
            return git_blob_sha1(self.pointer)
        return git_blob_sha1(self.content)

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.content).hexdigest()

    @property
    def pointer(self) -> bytes:
        return (f"version https://git-lfs.github.com/spec/v1\noid sha256:{self.sha256}\n"
                f"size {len(self.content)}\n").encode()


@dataclass
class HubRepo:
    repo_type: str  # model, dataset, space
    repo_id: str
    private: bool = False
    gated: bool = False
    xet: bool = False
    commits: dict[str, dict[str, HubFile]] = field(default_factory=dict)
    refs: dict[str, str] = field(default_factory=dict)  # branch/tag/refs/pr/N -> commit

    def commit(self, files: dict[str, bytes], branch: str = "main", lfs: set[str] | None = None) -> str:
        """Add a commit on ``branch`` whose tree is the previous tree updated with ``files``."""
        base = dict(self.commits.get(self.refs.get(branch, ""), {}))
        for path, content in files.items():
            is_lfs = len(content) >= LFS_THRESHOLD if lfs is None else path in lfs
            base[path] = HubFile(content, is_lfs)
        sha = secrets.token_hex(20)
        self.commits[sha] = base
        self.refs[branch] = sha
        return sha

    def resolve(self, revision: str) -> str | None:
        if revision in self.refs:
            return self.refs[revision]
        if revision in self.commits:
            return revision
        if len(revision) >= 7:
            matches = [c for c in self.commits if c.startswith(revision)]
            if len(matches) == 1:
                return matches[0]
        return None


class HubError(Exception):
    def __init__(self, status: int, code: str | None, message: str, commit: str | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.commit = status, code, message, commit

    def response(self) -> web.Response:
        headers = {"X-Error-Message": self.message, "X-Request-Id": secrets.token_hex(8)}
        if self.code:
            headers["X-Error-Code"] = self.code
        if self.commit:
            headers["X-Repo-Commit"] = self.commit
        return web.Response(status=self.status, text=json.dumps({"error": self.message}),
                            content_type="application/json", headers=headers)


_PREFIXES = {"datasets": "dataset", "spaces": "space"}
_API_TYPES = {"models": "model", "datasets": "dataset", "spaces": "space"}


class FakeHub:
    def __init__(self, page_size: int = 1000) -> None:
        self.repos: dict[tuple[str, str], HubRepo] = {}
        self.tokens: dict[str, set[tuple[str, str]]] = {}  # token -> repos it may read (private/gated)
        self.page_size = page_size
        self.requests: list[tuple[str, str]] = []  # (method, raw path with query) on the hub
        self.cdn_requests: list[tuple[str, str, str | None]] = []  # (method, sha256, Range)
        self.down = False  # answer 503 to everything, like an unreachable Hub
        self.cdn_gate: asyncio.Event | None = None
        """When set (not yet open), CDN GETs wait for it before answering; ``cdn_waiting`` counts them."""
        self.cdn_waiting = 0
        self.cdn_arrived = asyncio.Event()
        self.app = web.Application()
        self.app.router.add_route("*", "/{tail:.*}", self._dispatch)
        self.cdn = web.Application()
        self.cdn.router.add_route("GET", "/lfs/{sha256}", self._cdn_get)
        self.cdn.router.add_route("HEAD", "/lfs/{sha256}", self._cdn_get)
        self.cdn_url = URL("http://cdn.invalid")  # set once the CDN server listens
        self.hub_url = URL("http://hub.invalid")

    # -- test helpers -----------------------------------------------------------------------

    def create(self, repo_id: str, repo_type: str = "model", *, private: bool = False, gated: bool = False,
               xet: bool = False) -> HubRepo:
        repo = HubRepo(repo_type, repo_id, private=private, gated=gated, xet=xet)
        self.repos[(repo_type, repo_id)] = repo
        return repo

    def count(self, method: str, fragment: str) -> int:
        return sum(1 for m, p in self.requests if m == method and fragment in p)

    def cdn_gets(self, sha256: str) -> int:
        return sum(1 for m, s, _ in self.cdn_requests if m == "GET" and s == sha256)

    # -- dispatch ---------------------------------------------------------------------------

    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        self.requests.append((request.method, request.raw_path))
        if self.down:
            return web.Response(status=503, text="service unavailable")
        segments = [unquote(s) for s in request.raw_path.split("?")[0].split("/")[1:]]
        try:
            if segments[:1] == ["api"]:
                return await self._api(request, segments[1:])
            if "resolve" in segments and request.method in ("GET", "HEAD"):
                return self._resolve(request, segments)
            raise HubError(404, None, "Not Found")
        except HubError as exc:
            return exc.response()

    def _token(self, request: web.Request) -> str | None:
        auth = request.headers.get("Authorization", "")
        return auth.removeprefix("Bearer ").strip() or None if auth.startswith("Bearer ") else None

    def _repo(self, request: web.Request, repo_type: str, repo_id: str, *, files: bool) -> HubRepo:
        """The Hub's access rules: missing and private look alike; gated guards files only."""
        token = self._token(request)
        if token is not None and token not in self.tokens:
            raise HubError(401, None, "Invalid credentials in Authorization header")
        repo = self.repos.get((repo_type, repo_id))
        granted = token is not None and (repo_type, repo_id) in self.tokens.get(token, set())
        if repo is None or (repo.private and not granted):
            raise HubError(401 if token is None else 404, "RepoNotFound", "Repository not found")
        if repo.gated and files and not granted:
            raise HubError(401 if token is None else 403, "GatedRepo",
                           f"Access to model {repo_id} is restricted. You must have access to it.")
        return repo

    def _commit(self, repo: HubRepo, revision: str) -> str:
        sha = repo.resolve(revision)
        if sha is None:
            raise HubError(404, "RevisionNotFound", f"Invalid rev id: {revision}")
        return sha

    # -- /resolve ---------------------------------------------------------------------------

    def _resolve(self, request: web.Request, segments: list[str]) -> web.StreamResponse:
        repo_type = "model"
        if segments[0] in _PREFIXES:
            repo_type, segments = _PREFIXES[segments[0]], segments[1:]
        at = segments.index("resolve")
        repo_id, revision, path = "/".join(segments[:at]), segments[at + 1], "/".join(segments[at + 2:])
        repo = self._repo(request, repo_type, repo_id, files=True)
        sha = self._commit(repo, revision)
        entry = repo.commits[sha].get(path)
        if entry is None:
            raise HubError(404, "EntryNotFound", f"{path} does not exist on \"{revision}\"", commit=sha)
        headers = {"X-Repo-Commit": sha, "Accept-Ranges": "bytes", "Vary": "Origin, Accept-Encoding"}
        if entry.lfs:
            cdn = (self.cdn_url / "lfs" / entry.sha256).with_query(sig=secrets.token_hex(4))
            headers.update({"X-Linked-Etag": f'"{entry.sha256}"', "X-Linked-Size": str(len(entry.content)),
                            "ETag": f'"{entry.oid}"', "Location": str(cdn)})
            if repo.xet:
                headers["X-Xet-Hash"] = hashlib.sha256(b"xet" + entry.content).hexdigest()
                token_url = self.hub_url / "api" / f"{repo_type}s" / repo_id / "xet-read-token" / sha
                headers["Link"] = (f'<{token_url}>; rel="xet-auth", '
                                   f'<https://cas-server.invalid/reconstructions/x>; rel="xet-reconstruction-info"')
            return web.Response(status=302, headers=headers, text="Found. Redirecting")
        headers["ETag"] = f'"{entry.oid}"'
        return _ranged(request, entry.content, headers, "text/plain; charset=utf-8")

    async def _cdn_get(self, request: web.Request) -> web.StreamResponse:
        sha = request.match_info["sha256"]
        self.cdn_requests.append((request.method, sha, request.headers.get("Range")))
        if self.cdn_gate is not None and request.method == "GET":
            self.cdn_waiting += 1
            self.cdn_arrived.set()
            await self.cdn_gate.wait()
        for repo in self.repos.values():
            for files in repo.commits.values():
                for f in files.values():
                    if f.lfs and f.sha256 == sha:
                        data = f.content[:-1] + bytes([f.content[-1] ^ 1]) if f.corrupt else f.content
                        return _ranged(request, data, {"ETag": f'"cdn-{sha[:16]}"'}, "binary/octet-stream")
        return web.Response(status=404, text="<Error><Code>NoSuchKey</Code></Error>")

    # -- /api -------------------------------------------------------------------------------

    async def _api(self, request: web.Request, segments: list[str]) -> web.StreamResponse:
        if segments[:1] == ["agent-harnesses"]:
            raise HubError(404, None, "Not Found")
        if not segments or segments[0] not in _API_TYPES:
            raise HubError(404, None, "Not Found")
        repo_type, rest = _API_TYPES[segments[0]], segments[1:]
        action: str
        for marker in ("revision", "tree", "paths-info", "xet-read-token"):
            if marker in rest[1:3]:
                at = rest.index(marker, 1)
                repo_id, action, args = "/".join(rest[:at]), marker, rest[at + 1:]
                break
        else:
            repo_id, action, args = "/".join(rest), "info", []
        repo = self._repo(request, repo_type, repo_id, files=action == "xet-read-token")
        if action == "info":
            return self._info(repo, repo.refs.get("main", ""))
        if action == "revision":
            return self._info(repo, self._commit(repo, args[0]))
        if action == "tree":
            return self._tree(request, repo, self._commit(repo, args[0]), "/".join(args[1:]))
        if action == "paths-info" and request.method == "POST":
            form = await request.post()
            return self._paths_info(repo, self._commit(repo, args[0]), [str(p) for p in form.getall("paths", [])])
        raise HubError(404, None, "Not Found")

    def _info(self, repo: HubRepo, sha: str) -> web.Response:
        files = repo.commits.get(sha, {})
        body = {"_id": hashlib.md5(repo.repo_id.encode()).hexdigest()[:24], "id": repo.repo_id,
                "author": repo.repo_id.split("/")[0] if "/" in repo.repo_id else None,
                "sha": sha, "lastModified": "2026-11-01T10:00:00.000Z", "private": repo.private,
                "gated": "manual" if repo.gated else False, "disabled": False, "downloads": 0, "likes": 0,
                "tags": [], "siblings": [{"rfilename": p} for p in sorted(files)]}
        if repo.repo_type == "model":
            body["modelId"] = repo.repo_id
        return web.json_response(body)

    def _entries(self, repo: HubRepo, sha: str) -> list[dict[str, object]]:
        files = repo.commits[sha]
        dirs = sorted({"/".join(p.split("/")[:i]) for p in files for i in range(1, p.count("/") + 1)})
        out: list[dict[str, object]] = [{"type": "directory", "oid": hashlib.sha1(d.encode()).hexdigest(),
                                         "size": 0, "path": d} for d in dirs]
        for path, f in sorted(files.items()):
            entry: dict[str, object] = {"type": "file", "oid": f.oid, "size": len(f.content), "path": path}
            if f.lfs:
                entry["lfs"] = {"oid": f.sha256, "size": len(f.content), "pointerSize": len(f.pointer)}
                if repo.xet:
                    entry["xetHash"] = hashlib.sha256(b"xet" + f.content).hexdigest()
            out.append(entry)
        return sorted(out, key=lambda e: str(e["path"]))

    def _tree(self, request: web.Request, repo: HubRepo, sha: str, base: str) -> web.Response:
        recursive = request.query.get("recursive", "false") == "true"
        entries = self._entries(repo, sha)
        prefix = base + "/" if base else ""
        if base and not any(str(e["path"]).startswith(prefix) for e in entries):
            raise HubError(404, "EntryNotFound", f"{base} does not exist", commit=sha)
        entries = [e for e in entries if str(e["path"]).startswith(prefix)
                   and (recursive or "/" not in str(e["path"])[len(prefix):])]
        if request.query.get("expand") == "true":
            for e in entries:
                e["lastCommit"] = {"id": sha, "title": "commit", "date": "2026-11-01T10:00:00.000Z"}
        start = int(request.query.get("cursor", "0"))
        page = entries[start:start + self.page_size]
        headers = {}
        if start + self.page_size < len(entries):
            query = MultiDict(request.query)
            query["cursor"] = str(start + self.page_size)
            headers["Link"] = f'<{(self.hub_url.join(URL(request.path))).with_query(query)}>; rel="next"'
        return web.json_response(page, headers=headers)

    def _paths_info(self, repo: HubRepo, sha: str, paths: list[str]) -> web.Response:
        wanted = set(paths)
        return web.json_response([e for e in self._entries(repo, sha) if e["path"] in wanted])


def _ranged(request: web.Request, data: bytes, headers: dict[str, str], content_type: str) -> web.Response:
    headers = {**headers, "Content-Type": content_type, "Accept-Ranges": "bytes"}
    rng = request.headers.get("Range")
    if rng and rng.startswith("bytes="):
        first, _, last = rng[6:].partition("-")
        start = int(first)
        end = int(last) + 1 if last else len(data)
        if start >= len(data):
            return web.Response(status=416, headers={"Content-Range": f"bytes */{len(data)}"})
        headers["Content-Range"] = f"bytes {start}-{end - 1}/{len(data)}"
        body = data[start:end]
        status = 206
    else:
        body, status = data, 200
    if request.method == "HEAD":
        headers["Content-Length"] = str(len(body))
        return web.Response(status=status, headers=headers)
    return web.Response(status=status, body=body, headers=headers)


