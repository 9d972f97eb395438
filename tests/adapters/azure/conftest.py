"""Azure fixtures: Azurite (one per session), a counting relay in front of it, the proxy, and
Microsoft's azure-storage-blob client straight to Azurite for setting blobs up."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from azure.storage.blob import BlobServiceClient, ContainerClient

from tests.conftest import Proxy, ServerFactory
from tests.fakes.azurite import ACCOUNT, KEY, Azurite, binary
from tests.fakes.cloud_relay import CloudRelay
from tests.fakes.s3_servers import free_port


@pytest.fixture(scope="session")
def azurite(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Azurite]:
    if binary() is None:
        pytest.skip("Azurite is not installed (make azurite; make test installs it)")
    with Azurite(tmp_path_factory.mktemp("azurite"), free_port(below=55000)) as server:
        yield server


@dataclass
class Blobs:
    """One fresh container, through azure-storage-blob (sync; calls go to a thread)."""

    client: ContainerClient

    @property
    def name(self) -> str:
        return str(self.client.container_name)

    async def put(self, name: str, data: bytes, **kwargs: Any) -> str:
        """Upload (or replace) a blob; its new ETag."""
        blob = self.client.get_blob_client(name)
        result = await asyncio.to_thread(lambda: blob.upload_blob(data, overwrite=True, **kwargs))
        return str(result["etag"])


@pytest.fixture
def blobs(azurite: Azurite) -> Iterator[Blobs]:
    service = BlobServiceClient.from_connection_string(azurite.connection_string)
    container = service.create_container(f"models-{uuid.uuid4().hex[:12]}")
    yield Blobs(container)
    service.close()


def is_blob_get(method: str, raw_path: str) -> bool:
    return method == "GET" and "comp=list" not in raw_path


@pytest.fixture
async def az_relay(azurite: Azurite, aiohttp_server: ServerFactory) -> AsyncIterator[tuple[CloudRelay, str]]:
    relay = CloudRelay(f"http://127.0.0.1:{azurite.port}", is_blob_get)
    server = await aiohttp_server(relay.app())
    yield relay, str(server.make_url("")).rstrip("/")
    if relay.gate is not None:
        relay.gate.set()


@dataclass
class AzureProxy:
    proxy: Proxy
    relay: CloudRelay

    def url(self, container: str, blob: str) -> str:
        return f"az://{ACCOUNT}/{container}/{blob}"


@pytest.fixture
async def start_azure(start_proxy: Callable[..., Awaitable[Proxy]], az_relay: tuple[CloudRelay, str]
                      ) -> Callable[..., Awaitable[AzureProxy]]:
    relay, url = az_relay

    async def start(**overrides: Any) -> AzureProxy:
        settings: dict[str, Any] = {"azure_endpoint": url + "/{account}", "azure_account_key": KEY,
                                    "azure_allow": (f"{ACCOUNT}/models-*",)}
        settings.update(overrides)
        return AzureProxy(await start_proxy(**settings), relay)

    return start


@pytest.fixture
async def az_proxy(start_azure: Callable[..., Awaitable[AzureProxy]]) -> AzureProxy:
    return await start_azure()


