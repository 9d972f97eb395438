"""The proxy's URL for each provider's file and the headers that authenticate a request there.

* HuggingFace: ``/{datasets/|spaces/}{repo}/resolve/{revision}/{path}``, ``Authorization: Bearer``
* S3: ``/s3/{bucket}/{key}`` (path-style), SigV4 when credentials are set
* GCS, Azure: ``/v1/fetch?url=gs://{bucket}/{key}`` / ``az://{account}/{container}/{key}``
* HTTP: ``/v1/fetch?url={url}``
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote, urlencode

from modelmanager_client import s3auth
from modelmanager_client.info import STORE_SCHEMES, DownloadInfo, Provider
from modelmanager_client.remote import Endpoint

S3_PREFIX = "/s3"
_TYPE_PREFIX = {"model": "", "dataset": "datasets/", "space": "spaces/"}


@dataclass(frozen=True, slots=True)
class Route:
    """Where a request goes on the proxy, and how it is authenticated."""

    endpoint: Endpoint
    path: str
    """Percent-encoded path, including the proxy's base path."""
    query: tuple[tuple[str, str], ...] = ()
    bearer: str | None = None
    s3: s3auth.Credentials | None = None

    @property
    def target(self) -> str:
        return self.path + (f"?{urlencode(self.query, quote_via=quote)}" if self.query else "")

    def headers(self, method: str) -> dict[str, str]:
        """Authentication headers for one request (SigV4 signs the time: one set per request)."""
        if self.bearer:
            return {"Authorization": f"Bearer {self.bearer}"}
        if self.s3 is not None:
            return s3auth.sign(self.s3, method, self.endpoint.netloc, self.path, list(self.query))
        return {}


def hf_repo_path(info: DownloadInfo) -> str:
    if info.repo_type not in _TYPE_PREFIX:
        raise ValueError(f"repo_type must be model, dataset or space: {info.repo_type!r}")
    return _TYPE_PREFIX[info.repo_type] + info.repo_id


def file_route(info: DownloadInfo, revision: str | None = None) -> Route:
    """The route of ``info``'s file (``revision`` overrides ``info.revision``, e.g. a resolved commit)."""
    endpoint = Endpoint.of(info.base)
    match info.kind:
        case Provider.HF:
            if not info.filename:
                raise ValueError("a HuggingFace download needs filename (or use modelmanager_snapshot)")
            rev = quote(revision or info.revision, safe="")
            path = f"{endpoint.prefix}/{hf_repo_path(info)}/resolve/{rev}/{quote(info.filename)}"
            return Route(endpoint, path, bearer=info.bearer)
        case Provider.S3:
            bucket, key = info.s3_key()
            path = f"{endpoint.prefix}{S3_PREFIX}/{quote(bucket, safe='')}/{quote(key, safe='/-_.~')}"
            return Route(endpoint, path, s3=s3auth.Credentials.find(info.token))
        case Provider.GCS | Provider.AZURE:
            return Route(endpoint, f"{endpoint.prefix}/v1/fetch", (("url", info.store_url()),))
        case Provider.HTTP:
            return Route(endpoint, f"{endpoint.prefix}/v1/fetch", (("url", info.repo_id),))


def api_route(info: DownloadInfo, tail: str, query: tuple[tuple[str, str], ...] = ()) -> Route:
    """``/api/{models|datasets|spaces}/{repo}/{tail}`` on the proxy (HF only)."""
    endpoint = Endpoint.of(info.base)
    kind = {"model": "models", "dataset": "datasets", "space": "spaces"}[info.repo_type]
    return Route(endpoint, f"{endpoint.prefix}/api/{kind}/{info.repo_id}/{tail}", query, bearer=info.bearer)


def s3_list_route(info: DownloadInfo, token: str | None) -> Route:
    """One page of ListObjectsV2 below ``info``'s prefix."""
    endpoint = Endpoint.of(info.base)
    bucket, prefix = info.s3_location()
    query = [("list-type", "2"), ("prefix", f"{prefix}/" if prefix else "")]
    if token:
        query.append(("continuation-token", token))
    return Route(endpoint, f"{endpoint.prefix}{S3_PREFIX}/{quote(bucket, safe='')}", tuple(query),
                 s3=s3auth.Credentials.find(info.token))


def store_list_route(info: DownloadInfo) -> Route:
    """The files below a GCS or Azure prefix: ``/v1/list?url=gs://bucket/prefix/``."""
    endpoint = Endpoint.of(info.base)
    bucket, prefix = info.s3_location()
    url = f"{STORE_SCHEMES[info.kind]}://{bucket}/" + (f"{prefix}/" if prefix else "")
    return Route(endpoint, f"{endpoint.prefix}/v1/list", (("url", url),))
