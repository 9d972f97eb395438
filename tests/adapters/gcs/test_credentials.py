"""The proxy's GCS credentials: a service-account JSON file through google-auth, its tokens from a
real (local) token endpoint, refreshed in a worker thread and sent to GCS as a Bearer token."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from pathlib import Path

from aiohttp import web
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.adapters.gcs.conftest import GcsProxy
from tests.adapters.gcs.test_fetch import get
from tests.conftest import ServerFactory
from tests.fakes.gcs_server import GcsAdmin


def service_account_file(path: Path, token_uri: str) -> Path:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption()).decode()
    path.write_text(json.dumps({
        "type": "service_account", "project_id": "test", "private_key_id": "k1", "private_key": pem,
        "client_email": "proxy@test.iam.gserviceaccount.com", "client_id": "1", "token_uri": token_uri}))
    return path


async def test_service_account_tokens_are_refreshed_before_expiry(
        start_gcs: Callable[..., Awaitable[GcsProxy]], gcs: GcsAdmin, gcs_bucket: str,
        aiohttp_server: ServerFactory, tmp_path: Path) -> None:
    """The token endpoint runs on this test's event loop, as the proxy does: had google-auth's
    blocking request run on the loop, it could never be answered."""
    issued: list[str] = []

    async def token(request: web.Request) -> web.Response:
        form = await request.post()
        assert form["grant_type"] == "urn:ietf:params:oauth:grant-type:jwt-bearer"
        issued.append(f"token-{len(issued) + 1}")
        # 200 s left: inside the refresh margin (300 s), so the next request refreshes it again
        return web.json_response({"access_token": issued[-1], "expires_in": 200, "token_type": "Bearer"})

    app = web.Application()
    app.router.add_post("/token", token)
    server = await aiohttp_server(app)
    creds = service_account_file(tmp_path / "sa.json", str(server.make_url("/token")))
    gp = await start_gcs(gcs_credentials=str(creds))
    await gcs.upload(gcs_bucket, "a.bin", b"alpha")
    await gcs.upload(gcs_bucket, "b.bin", b"beta")
    assert (await get(gp, f"gs://{gcs_bucket}/a.bin"))[1] == b"alpha"
    assert (await get(gp, f"gs://{gcs_bucket}/b.bin"))[1] == b"beta"
    assert issued == ["token-1", "token-2"]
    sent = [r.headers.get("Authorization") for r in gp.relay.bodies()]
    assert sent == ["Bearer token-1", "Bearer token-2"]


async def test_a_missing_credentials_file_is_a_502_not_a_crash(
        start_gcs: Callable[..., Awaitable[GcsProxy]], gcs: GcsAdmin, gcs_bucket: str, tmp_path: Path) -> None:
    gp = await start_gcs(gcs_credentials=str(tmp_path / "absent.json"))
    await gcs.upload(gcs_bucket, "a.bin", b"alpha")
    status, _, _ = await get(gp, f"gs://{gcs_bucket}/a.bin")
    assert status == 502
    assert gp.relay.requests == []
