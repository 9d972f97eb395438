"""The bucket router: for each client-visible bucket, the S3 endpoint that serves it natively, or
the ``ObjectStore`` that serves it through the generic path (GCS, Azure, an S3 bucket named
differently upstream).

Built once at start-up from the routes (``adapters.s3.bucketroutes``): credential sources are
shared between routes that name the same profile/role, stores are made by the factories the
composition root registers per URL scheme (``gs``, ``az``). A bucket with neither its own route
nor a ``*`` route does not exist (``NoSuchBucket``).
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import aiohttp
from yarl import URL

from adapters.s3.bucketroutes import STORE_SCHEMES, CredentialsSpec, Route, RoutesError
from adapters.s3.credentials import Anonymous, AwsChain, CredentialSource, Static
from adapters.s3.s3store import S3Store
from adapters.s3.sigv4 import Credentials
from adapters.s3.upstream import Endpoint, S3Upstream
from proxy.objectstore import ObjectStore

SessionGetter = Callable[[], aiohttp.ClientSession]
StoreFactory = Callable[[str, SessionGetter], ObjectStore]
"""``(target URL such as gs://bucket or az://account/container, the proxy's client session) -> store``."""


@dataclass(frozen=True, slots=True)
class S3Route:
    endpoint: Endpoint
    upstream_bucket: str | None = None
    """Its name upstream when it differs from the client-visible one (served as an ObjectStore)."""


@dataclass(frozen=True, slots=True)
class StoreRoute:
    target: str
    make: Callable[[SessionGetter], ObjectStore]


Target = S3Route | StoreRoute
ChainKey = tuple[str | None, str | None, str | None]
"""(profile, role ARN, STS region): routes with the same one share one credential chain."""


@dataclass(frozen=True, slots=True)
class Defaults:
    region: str
    credentials: CredentialSource
    """For routes that name no credentials: --s3-upstream-access-key-id/secret, else the AWS chain."""


class Router:
    def __init__(self, targets: Mapping[str, Target], session: SessionGetter) -> None:
        self.targets = dict(targets)
        self._stores: dict[str, ObjectStore] = {}
        for bucket, target in targets.items():
            if isinstance(target, StoreRoute):
                self._stores[bucket] = target.make(session)
            elif target.upstream_bucket is not None:
                upstream = S3Upstream(target.endpoint, session)
                self._stores[bucket] = S3Store(upstream, target.upstream_bucket, bucket)

    def _target(self, bucket: str) -> str | None:
        return bucket if bucket in self.targets else "*" if "*" in self.targets else None

    def endpoint(self, bucket: str | None) -> Endpoint | None:
        """The endpoint a bucket (None: ListBuckets, the ``*`` route) is forwarded to natively."""
        name = self._target(bucket) if bucket is not None else "*" if "*" in self.targets else None
        target = self.targets.get(name) if name is not None else None
        if isinstance(target, S3Route) and target.upstream_bucket is None:
            return target.endpoint
        return None

    def store(self, bucket: str) -> ObjectStore | None:
        name = self._target(bucket)
        return self._stores.get(name) if name is not None else None

    def named(self) -> list[str]:
        """The buckets routed by name (what ListBuckets shows when no S3 endpoint takes ``*``)."""
        return sorted(b for b in self.targets if b != "*")


def build(routes: Mapping[str, Route], defaults: Defaults, stores: Mapping[str, StoreFactory],
          environ: Mapping[str, str] = os.environ) -> dict[str, Target]:
    """The targets of ``routes``; RoutesError names the route at fault."""
    chains: dict[ChainKey, AwsChain] = {}
    targets: dict[str, Target] = {}
    for bucket, route in routes.items():
        spec = route.spec
        if spec.scheme in STORE_SCHEMES:
            factory = stores.get(spec.scheme)
            if factory is None:
                raise RoutesError(f"{route.origin}: bucket {bucket!r}: no store for {spec.scheme}:// "
                                  "configured in this build")
            targets[bucket] = StoreRoute(spec.upstream, functools.partial(_make_store, factory, spec.upstream))
            continue
        region = spec.signing_region(defaults.region)
        credentials = (defaults.credentials if spec.credentials is None
                       else _credentials(spec.credentials, route, region, chains, environ))
        endpoint = Endpoint(URL(spec.upstream), region, credentials)
        renamed = spec.bucket if spec.bucket is not None and (spec.bucket != bucket or bucket == "*") else None
        targets[bucket] = S3Route(endpoint, renamed)
    return targets


def _make_store(factory: StoreFactory, target: str, session: SessionGetter) -> ObjectStore:
    return factory(target, session)


def _credentials(spec: CredentialsSpec, route: Route, region: str, chains: dict[ChainKey, AwsChain],
                 environ: Mapping[str, str]) -> CredentialSource:
    if spec.kind == "anonymous":
        return Anonymous()
    if spec.kind == "static":
        names = (spec.access_key_id_env, spec.secret_access_key_env, spec.session_token_env)
        values = [environ.get(name) if name else None for name in names]
        missing = [name for name, value in zip(names[:2], values[:2], strict=True) if not value]
        if missing:
            raise RoutesError(f"{route.origin}: bucket {route.bucket!r}: credentials name environment "
                              f"variable(s) {', '.join(str(m) for m in missing)}, which are not set")
        access, secret, token = values
        assert access is not None
        assert secret is not None
        return Static(Credentials(access, secret, token or None), label=f"keys from ${spec.access_key_id_env}")
    key = (spec.profile, spec.role_arn, region if spec.role_arn else None)
    if key not in chains:
        chain = AwsChain(spec.profile, spec.role_arn, region=region)
        try:
            chain.check()
        except ValueError as exc:
            raise RoutesError(f"{route.origin}: bucket {route.bucket!r}: {exc}") from None
        chains[key] = chain
    return chains[key]
