"""Microsoft Entra tokens from azure-identity's DefaultAzureCredential: here its managed-identity
path (``IDENTITY_ENDPOINT`` / ``IDENTITY_HEADER``, as App Service and Arc set them) against a
local token endpoint over a real socket, fetched in a worker thread and sent as a Bearer token."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

import pytest
from aiohttp import web

from tests.adapters.azure.conftest import AzureProxy, Blobs
from tests.adapters.azure.test_fetch import get
from tests.conftest import ServerFactory


async def test_default_credential_tokens_are_sent_as_bearer(
        start_azure: Callable[..., Awaitable[AzureProxy]], blobs: Blobs, aiohttp_server: ServerFactory,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The endpoint runs on this test's loop, as the proxy does: a token fetched on the loop could
    never be answered."""
    asked: list[str] = []

    async def token(request: web.Request) -> web.Response:
        assert request.headers.get("X-IDENTITY-HEADER") == "secret-header"
        asked.append(request.query.get("resource", ""))
        return web.json_response({"access_token": f"entra-{len(asked)}", "token_type": "Bearer",
                                  "expires_on": str(int(time.time()) + 3600),
                                  "resource": request.query.get("resource")})

    app = web.Application()
    app.router.add_get("/token", token)
    server = await aiohttp_server(app)
    for name in ("AZURE_CLIENT_ID", "AZURE_TENANT_ID", "AZURE_CLIENT_SECRET", "AZURE_FEDERATED_TOKEN_FILE",
                 "MSI_ENDPOINT", "MSI_SECRET"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("IDENTITY_ENDPOINT", str(server.make_url("/token")))
    monkeypatch.setenv("IDENTITY_HEADER", "secret-header")
    ap = await start_azure(azure_account_key=None, azure_credentials="default")
    await blobs.put("a.bin", b"alpha")
    await blobs.put("b.bin", b"beta")
    # Azurite checks Entra tokens only over HTTPS with --oauth: here it refuses them, and the proxy
    # passes the refusal on (never cached)
    statuses = [(await get(ap, ap.url(blobs.name, name)))[0] for name in ("a.bin", "b.bin")]
    assert statuses == [403, 403]
    sent = [r.headers.get("Authorization") for r in ap.relay.requests]
    assert sent == ["Bearer entra-1", "Bearer entra-1"]  # one token, reused until near its expiry
    assert asked == ["https://storage.azure.com"]
