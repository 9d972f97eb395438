"""S3 fixtures: a moto server (one per session), a counting relay in front of it, and the proxy."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import pytest
from botocore.config import Config

from adapters.s3 import S3_FRONTEND, S3Frontend
from tests.conftest import Proxy, ServerFactory
from tests.fakes.s3_servers import ACCESS_KEY, SECRET_KEY, CountingRelay, MotoServer

Client = Any  # botocore clients are generated at run time


def make_client(endpoint: str, access_key: str = ACCESS_KEY, secret_key: str = SECRET_KEY, **config: Any) -> Client:
    return boto3.session.Session().client(
        "s3", endpoint_url=endpoint, aws_access_key_id=access_key, aws_secret_access_key=secret_key,
        region_name="us-east-1", config=Config(retries={"max_attempts": 1, "mode": "standard"}, **config))


@pytest.fixture(scope="session")
def moto() -> Iterator[MotoServer]:
    with MotoServer() as server:
        yield server


@pytest.fixture
def bucket(moto: MotoServer) -> str:
    name = f"models-{uuid.uuid4().hex[:12]}"
    make_client(moto.url).create_bucket(Bucket=name)
    return name


@pytest.fixture
def direct(moto: MotoServer) -> Client:
    """A client straight to moto, for setting up and checking the upstream."""
    return make_client(moto.url)


@pytest.fixture
async def relay(moto: MotoServer, aiohttp_server: ServerFactory) -> AsyncIterator[tuple[CountingRelay, str]]:
    relay = CountingRelay(moto.url)
    server = await aiohttp_server(relay.app())
    yield relay, str(server.make_url("")).rstrip("/")
    if relay.gate is not None:
        relay.gate.set()


@dataclass
class S3Proxy:
    proxy: Proxy
    relay: CountingRelay
    endpoint: str
    """The S3 endpoint URL clients use (``http://host:port/s3``)."""

    @property
    def frontend(self) -> S3Frontend:
        return self.proxy.app[S3_FRONTEND]

    def client(self, **kwargs: Any) -> Client:
        return make_client(self.endpoint, **kwargs)


@pytest.fixture
async def start_s3(start_proxy: Callable[..., Awaitable[Proxy]], relay: tuple[CountingRelay, str]
                   ) -> Callable[..., Awaitable[S3Proxy]]:
    fake, url = relay

    async def start(**overrides: Any) -> S3Proxy:
        settings: dict[str, Any] = {
            "s3_upstream_endpoint": url, "s3_upstream_access_key_id": "upstream-key",
            "s3_upstream_secret_access_key": "upstream-secret", "s3_client_keys": f"{ACCESS_KEY}:{SECRET_KEY}"}
        settings.update(overrides)
        proxy = await start_proxy(**settings)
        return S3Proxy(proxy, fake, str(proxy.server.make_url("/s3")))

    return start


@pytest.fixture
async def s3(start_s3: Callable[..., Awaitable[S3Proxy]]) -> S3Proxy:
    return await start_s3()
