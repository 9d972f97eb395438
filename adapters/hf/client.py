"""Requests to the upstream Hub: file metadata (HEAD /resolve), file bytes, and API passthrough."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import aiohttp
from multidict import CIMultiDictProxy
from yarl import URL

from adapters.hf import wire
from adapters.hf.files import FileInfo
from adapters.hf.repo import ResolveTarget, check_origin_form, is_commit, quote_path, quote_revision
from proxy import answers
from proxy.errors import InvalidKey, RangeIgnored, UpstreamUnavailable
from proxy.read.ranges import ContentRange
from proxy.upstream import NETWORK_ERRORS, Fetched, FetchRequest, NotModified, ObjectMeta, ResponseBody, Validators

MAX_HOPS = 10
MAX_API_BODY = 64 * 1024 * 1024


def _etag_value(value: str | None) -> str | None:
    return value.removeprefix("W/").strip('"') if value else None


@dataclass(frozen=True, slots=True)
class ApiAnswer:
    status: int
    headers: CIMultiDictProxy[str]
    body: bytes


class HubClient:
    def __init__(self, session: aiohttp.ClientSession, endpoint: URL) -> None:
        self.session = session
        self.endpoint = endpoint

    def url(self, raw_path_qs: str) -> URL:
        """The Hub URL of a path and query (percent-encoded as received): built from the parts of
        ``--hf-endpoint`` and a checked origin-form path, so no request can change the host."""
        raw_path, _, query = raw_path_qs.partition("?")
        base = self.endpoint
        url = URL.build(scheme=base.scheme, host=base.raw_host or "", port=base.explicit_port,
                        path=base.raw_path.rstrip("/") + check_origin_form(raw_path), query_string=query,
                        encoded=True)
        if url.origin() != base.origin():
            raise InvalidKey("the request would leave the Hub")
        return url

    def resolve_url(self, target: ResolveTarget) -> URL:
        return self.url(f"/{target.repo.resolve_prefix}/resolve/{quote_revision(target.revision)}/"
                        f"{quote_path(target.path)}")

    @staticmethod
    def auth(token: str | None) -> dict[str, str]:
        return {"Authorization": f"Bearer {token}"} if token else {}

    async def file_info(self, target: ResolveTarget, token: str | None) -> FileInfo:
        """HEAD the file as the Hub client does: follow same-origin redirects, read the last answer."""
        url = self.resolve_url(target)
        headers = {"Accept-Encoding": "identity", **self.auth(token)}
        for _ in range(MAX_HOPS):
            try:
                async with self.session.head(url, headers=headers, allow_redirects=False) as r:
                    if r.status >= 400:
                        raise _error(r.status, r.headers, await r.read())
                    location = r.headers.get("Location")
                    if r.status in (301, 302, 303, 307, 308) and location:
                        target_url = url.join(URL(location))
                        if target_url.origin() == url.origin() and wire.REPO_COMMIT not in r.headers:
                            url = target_url  # e.g. a rename or /api/resolve-cache hop
                            continue
                    return _file_info(target, r.headers, r.status)
            except NETWORK_ERRORS as exc:
                raise UpstreamUnavailable(f"Hub unreachable: {exc!r}") from exc
        raise UpstreamUnavailable("too many redirects from the Hub")

    async def api(self, method: str, raw_path_qs: str, token: str | None, *, data: bytes | None = None,
                  content_type: str | None = None) -> ApiAnswer:
        headers = {**self.auth(token), "Accept-Encoding": "identity"}
        if content_type:
            headers["Content-Type"] = content_type
        try:
            async with self.session.request(method, self.url(raw_path_qs), headers=headers, data=data) as r:
                body = await answers.read_whole(r, MAX_API_BODY, "Hub API")
                if r.status >= 500 or r.status == 429:
                    raise UpstreamUnavailable(f"Hub answered {r.status} to {method} {raw_path_qs.split('?')[0]}")
                return ApiAnswer(r.status, r.headers, body)
        except NETWORK_ERRORS as exc:
            raise UpstreamUnavailable(f"Hub unreachable: {exc!r}") from exc


def _error(status: int, headers: Mapping[str, str], body: bytes) -> Exception:
    if status >= 500 or status == 429:
        return UpstreamUnavailable(f"Hub answered {status}")
    return wire.rejection(status, headers, body)


def _file_info(target: ResolveTarget, headers: Mapping[str, str], status: int) -> FileInfo:
    commit = headers.get(wire.REPO_COMMIT, "")
    if not is_commit(commit):
        raise UpstreamUnavailable("Hub answer without X-Repo-Commit: not a Hub endpoint?")
    lfs = _etag_value(headers.get(wire.LINKED_ETAG))
    size_text = headers.get(wire.LINKED_SIZE) or (headers.get("Content-Length") if status < 300 else None)
    if size_text is None or not size_text.isdigit():
        raise UpstreamUnavailable("Hub answer without a file size")
    oid = _etag_value(headers.get("ETag"))
    if lfs is not None and len(lfs) != 64:
        lfs = None  # an X-Linked-Etag that is not an LFS sha256 (e.g. a xet id): nothing to verify against
    if oid is not None and len(oid) != 40:
        oid = None
    content_type = "application/octet-stream" if lfs else headers.get("Content-Type", "application/octet-stream")
    return FileInfo(target.repo, commit, target.path, int(size_text), oid, lfs, content_type)


class HubFileSource:
    """One file at one commit. Its bytes never change, so resumes need no validator; the fill
    verifies them against the LFS sha256 or the git blob sha1 anyway."""

    def __init__(self, client: HubClient, info: FileInfo, token: str | None) -> None:
        self._client = client
        self._info = info
        self._token = token
        self.key = info.key

    async def fetch(self, request: FetchRequest) -> Fetched | NotModified:
        info = self._info
        target = ResolveTarget(info.repo, info.commit, info.path)
        headers = {"Accept-Encoding": "identity", **self._client.auth(self._token)}
        if request.ranged:
            headers["Range"] = request.range_header()
        try:
            # aiohttp drops Authorization when a redirect leaves the Hub's origin (the LFS CDN)
            response = await self._client.session.get(self._client.resolve_url(target), headers=headers,
                                                      max_redirects=MAX_HOPS)
        except NETWORK_ERRORS as exc:
            raise UpstreamUnavailable(f"Hub unreachable: {exc!r}") from exc
        try:
            if response.status >= 400:
                raise _error(response.status, response.headers, await answers.error_body(response))
            if request.end is not None and response.status == 200:
                raise RangeIgnored(f"Hub answered 200 to Range: {request.range_header()}")
            expected = 206 if request.ranged else 200
            if response.status != expected:
                raise UpstreamUnavailable(f"Hub answered {response.status} where {expected} was expected")
            resumed = ContentRange.parse(response.headers.get("Content-Range"))
            if request.ranged and (resumed is None or resumed.start != request.offset):
                raise UpstreamUnavailable("Hub resumed at another offset")
        except BaseException:
            response.close()
            raise
        meta = ObjectMeta(size=info.size, content_type=info.content_type, validators=Validators(etag=info.etag),
                          checksums=info.checksums(), immutable=True, attributes=info.attributes())
        return ResponseBody(response, meta, "Hub")
