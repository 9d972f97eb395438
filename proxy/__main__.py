"""The composition root: builds the frontends and catalogs from settings and hands them to ``make_app``.

This is the only module under ``proxy/`` that imports ``adapters/``. The command line lives in
``proxy.cli``; it receives ``build_app`` from here.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from aiohttp import ClientSession, web
from yarl import URL

from adapters.azure import Azure, AzureAuth
from adapters.azure import urls as az_urls
from adapters.azure.catalog import azure_catalog
from adapters.azure.catalog import listed as azure_listed
from adapters.gcs import Gcs, GcsAuth
from adapters.gcs import urls as gs_urls
from adapters.gcs.api import endpoint_from as gcs_endpoint
from adapters.gcs.catalog import gcs_catalog
from adapters.gcs.catalog import listed as gcs_listed
from adapters.hf import HfFrontend
from adapters.hf import urls as hf_urls
from adapters.hf.catalog import HfCatalog
from adapters.http import HttpFrontend, StoreUrls
from adapters.http import urls as http_urls
from adapters.http.catalog import HttpCatalog
from adapters.http.target import HostAllowList
from adapters.s3 import S3Frontend, S3Options, bucketroutes, routing
from adapters.s3 import urls as s3_urls
from adapters.s3.auth import ClientKeys
from adapters.s3.catalog import s3_catalog
from adapters.s3.credentials import Anonymous, AwsChain, CredentialSource, Static
from adapters.s3.routing import StoreFactory
from adapters.s3.sigv4 import Credentials
from adapters.ui import UiFrontend
from proxy.app import make_app
from proxy.cli import commands
from proxy.config import Settings
from proxy.control.catalog import Catalog, Catalogs
from proxy.control.urls import InvalidUrl
from proxy.errors import ConfigError
from proxy.objectstore import ObjectStore
from proxy.upstream import Frontend
from proxy.workers import env as workers_env

log = logging.getLogger("modelmanager")


@dataclass(frozen=True, slots=True)
class Clouds:
    """The object stores besides S3, configured once (their credentials refresh once) for every user."""

    gcs: Gcs
    azure: Azure

    @classmethod
    def of(cls, settings: Settings) -> Clouds:
        key, sas = settings.azure_account_key, settings.azure_sas_token
        azure = AzureAuth(key.get_secret_value() if key else None, sas.get_secret_value() if sas else None,
                          identity=settings.azure_credentials == "default")
        return cls(Gcs(gcs_endpoint(settings.gcs_endpoint), GcsAuth(settings.gcs_credentials)),
                   Azure(settings.azure_endpoint, azure))

    def urls(self, settings: Settings) -> list[StoreUrls]:
        """The object-store URLs ``/v1/fetch`` serves besides http(s): gs:// and az://."""
        google, azure = self.gcs, self.azure
        return [
            StoreUrls(lambda text: text[:5].lower() == "gs://",
                      lambda text, session: google.object_source(text, session, settings.gcs_allow),
                      settings.gcs_revalidate_after,
                      lambda text, session: gcs_listed(google, text, session, settings.gcs_allow)),
            StoreUrls(lambda text: text[:5].lower() == "az://" or az_urls.is_blob_https(text),
                      lambda text, session: azure.object_source(text, session, settings.azure_allow),
                      settings.azure_revalidate_after,
                      lambda text, session: azure_listed(azure, text, session, settings.azure_allow)),
        ]

    def catalogs(self, settings: Settings, session: Callable[[], ClientSession]) -> list[Catalog]:
        return [gcs_catalog(self.gcs, session, settings.gcs_revalidate_after),
                azure_catalog(self.azure, session, settings.azure_revalidate_after)]


def object_stores(settings: Settings, clouds: Clouds | None = None) -> dict[str, StoreFactory]:
    """The stores a bucket can be routed to besides S3, by URL scheme (``gs``, ``az``).

    Each factory is ``(target, session) -> ObjectStore``: ``target`` is the route's URL as written
    (``gs://bucket``, ``az://account/container``), ``session`` a getter of the proxy's
    ``aiohttp.ClientSession`` (valid once the app runs; call it per request, do not keep the
    session). ``clouds``: the GCS and Azure clients to share (one credential cache with
    ``/v1/fetch`` and the catalogs). A route to a scheme without a factory is refused at start-up."""
    clouds = clouds or Clouds.of(settings)
    return {"gs": _checked(clouds.gcs.store), "az": _checked(clouds.azure.store)}


def _checked(factory: StoreFactory) -> StoreFactory:
    """A route target the store's own grammar refuses is a start-up error, in one line."""
    def make(target: str, session: Callable[[], ClientSession]) -> ObjectStore:
        try:
            return factory(target, session)
        except InvalidUrl as exc:
            raise ConfigError(f"route to {target!r}: {exc}") from None

    return make


def frontends(settings: Settings, stores: Mapping[str, StoreFactory] | None = None,
              clouds: Clouds | None = None) -> list[Frontend]:
    """Every adapter's frontend. The HF one goes last: its ``/{repo}/resolve/...`` route is the widest.
    ``stores`` replaces ``object_stores(settings, clouds)`` for buckets routed to a store."""
    hf_token = settings.hf_token.get_secret_value() if settings.hf_token else None
    clouds = clouds or Clouds.of(settings)
    s3 = s3_frontend(settings, object_stores(settings, clouds) if stores is None else stores)  # before HF's
    return [
        UiFrontend(),
        HttpFrontend(HostAllowList(settings.http_allow), settings.http_revalidate_after, clouds.urls(settings)),
        *([s3] if s3 is not None else []),
        HfFrontend(URL(settings.hf_endpoint), hf_token, settings.hf_revision_ttl, settings.hf_access_ttl),
    ]


def upstream_credentials(settings: Settings) -> CredentialSource:
    """The default upstream S3 credentials: static keys, anonymous, or the AWS chain."""
    if settings.s3_upstream_anonymous:
        return Anonymous()
    if settings.s3_upstream_access_key_id and settings.s3_upstream_secret_access_key:
        return Static(Credentials(settings.s3_upstream_access_key_id,
                                  settings.s3_upstream_secret_access_key.get_secret_value()))
    chain = AwsChain(settings.s3_upstream_profile)
    try:
        chain.check()
    except ValueError as exc:
        raise ConfigError(f"--s3-upstream-profile: {exc}") from None
    return chain


def s3_routes(settings: Settings, stores: Mapping[str, StoreFactory]) -> dict[str, routing.Target]:
    """Every bucket route: the routes file, the --s3-route flags, and --s3-upstream-endpoint as ``*``."""
    groups = [bucketroutes.load_file(settings.s3_routes)] if settings.s3_routes is not None else []
    groups.append([bucketroutes.parse_flag(text) for text in settings.s3_route])
    if settings.s3_upstream_endpoint is not None:
        groups.append([bucketroutes.Route("*", bucketroutes.RouteSpec(
            upstream=settings.s3_upstream_endpoint), "--s3-upstream-endpoint")])
    table = bucketroutes.combine(*groups)
    if not table:
        return {}
    defaults = routing.Defaults(settings.s3_upstream_region, upstream_credentials(settings))
    return routing.build(table, defaults, stores)


def s3_frontend(settings: Settings, stores: Mapping[str, StoreFactory]) -> S3Frontend | None:
    """The S3 frontend the settings ask for; None when no bucket is routed anywhere."""
    routes = s3_routes(settings, stores)
    if not routes:
        return None
    keys_text = settings.s3_client_keys.get_secret_value() if settings.s3_client_keys else ""
    return S3Frontend(S3Options(
        routes=routes, client_keys=ClientKeys.parse(keys_text, settings.s3_client_keys_file),
        list_ttl=settings.s3_list_ttl, revalidate_after=settings.s3_revalidate_after,
        virtual_host_suffix=settings.s3_virtual_host_suffix, host=settings.host, port=settings.s3_port,
        write_through=settings.s3_write_through, allow_writes=settings.s3_allow_writes,
        reuse_port=workers_env.current() is not None))


def catalogs(settings: Settings, fronts: Sequence[Frontend], session: Callable[[], ClientSession],
             clouds: Clouds | None = None) -> Catalogs:
    """Each configured adapter's catalog, for prefetch, pins and watches (``proxy.control.catalog``),
    and the URL grammar of every adapter (the URL of one not configured here is refused, not invalid)."""
    found: list[Catalog] = [HttpCatalog(HostAllowList(settings.http_allow), settings.http_revalidate_after, session),
                            *(clouds or Clouds.of(settings)).catalogs(settings, session)]
    for front in fronts:
        if isinstance(front, HfFrontend):
            found.append(HfCatalog(front, session))
        elif isinstance(front, S3Frontend):
            found.append(s3_catalog(front.upstream, front.options.revalidate_after, front.router))
    return Catalogs(found, known=(hf_urls.GRAMMAR, s3_urls.GRAMMAR, http_urls.GRAMMAR, gs_urls.GRAMMAR,
                                  az_urls.GRAMMAR))


def build_app(settings: Settings, stores: Mapping[str, StoreFactory] | None = None) -> web.Application:
    """The app for ``settings``; ``stores`` replaces ``object_stores(settings)`` when given."""
    clouds = Clouds.of(settings)
    fronts = frontends(settings, stores, clouds)
    return make_app(settings, fronts, catalogs=lambda session: catalogs(settings, fronts, session, clouds))


def main(argv: Sequence[str] | None = None) -> int:
    return commands.main(argv, build_app)


if __name__ == "__main__":
    sys.exit(main())
