"""The proxy's Azure credentials against Azurite: a SAS token, anonymous reads of a public
container (and refused ones of a private container), and the account key's SharedKey (test_fetch)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

from azure.storage.blob import ContainerSasPermissions, generate_container_sas

from tests.adapters.azure.conftest import AzureProxy, Blobs
from tests.adapters.azure.test_fetch import get
from tests.fakes.azurite import ACCOUNT, KEY
from tests.fakes.s3_servers import ACCESS_KEY, SECRET_KEY
from tests.s3_clients import client, expected, listed

AzureFactory = Callable[..., Awaitable[AzureProxy]]


async def test_a_sas_token_reads_and_lists(start_azure: AzureFactory, blobs: Blobs) -> None:
    sas = generate_container_sas(ACCOUNT, blobs.name, account_key=KEY,
                                 permission=ContainerSasPermissions(read=True, list=True),
                                 expiry=datetime.now(UTC) + timedelta(hours=1))
    ap = await start_azure(azure_account_key=None, azure_sas_token="?" + sas,
                           s3_route=(f"models=az://{ACCOUNT}/{blobs.name}",),
                           s3_client_keys=f"{ACCESS_KEY}:{SECRET_KEY}")
    await blobs.put("m/a.bin", b"alpha")
    await blobs.put("m/b/c.bin", b"gamma")
    status, got, _ = await get(ap, ap.url(blobs.name, "m/a.bin"))
    assert (status, got) == (200, b"alpha")
    assert all("sig=" in r.raw_path and "Authorization" not in r.headers for r in ap.relay.requests)
    keys, prefixes, _ = await listed(client(str(ap.proxy.server.make_url("/s3"))), "models",
                                     {"Prefix": "m/", "Delimiter": "/"})
    assert (keys, prefixes) == expected(["m/a.bin", "m/b/c.bin"], "m/", "/")


async def test_anonymous_reads_a_public_container_only(start_azure: AzureFactory, blobs: Blobs) -> None:
    ap = await start_azure(azure_account_key=None, azure_credentials="anonymous")
    await blobs.put("p.bin", b"public?")
    status, _, _ = await get(ap, ap.url(blobs.name, "p.bin"))
    assert status in (403, 404)  # a private container: Azure hides it from anonymous callers
    await asyncio.to_thread(blobs.client.set_container_access_policy, signed_identifiers={}, public_access="blob")
    status, got, _ = await get(ap, ap.url(blobs.name, "p.bin"))
    assert (status, got) == (200, b"public?")
    assert all("Authorization" not in r.headers for r in ap.relay.requests)
