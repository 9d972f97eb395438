"""Credentials in upstream URLs (presigned signatures, tokens, passwords) never leave the process:
not in log lines, not in ``/v1/status``. One function does it, ``proxy.urls.redact``."""

from __future__ import annotations

import asyncio
import logging
import os

import pytest
from yarl import URL

from proxy.observe.logs import JsonFormatter, TextFormatter
from proxy.observe.redact import redact
from tests.conftest import ADMIN, Proxy
from tests.fakes.fake_http import FakeUpstream

SECRET = "f00dfeedcafe0123456789"
PRESIGNED = (f"?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIA{SECRET}%2F20261128%2Fus-east-1"
             f"&X-Amz-Date=20261128T000000Z&X-Amz-Expires=3600&X-Amz-SignedHeaders=host&X-Amz-Signature={SECRET}")


@pytest.mark.parametrize(("text", "kept"), [
    (f"http:https://bucket.s3.amazonaws.com/model.bin{PRESIGNED}", "https://bucket.s3.amazonaws.com/model.bin?"),
    (f"https://cdn.example/w.bin?Expires=1&Signature={SECRET}&Key-Pair-Id=K{SECRET}", "Expires=1"),
    (f"https://acct.blob.core.windows.net/c/w.bin?sv=2022&sig={SECRET}", "sv=2022"),
    (f"https://h/x?token={SECRET}#frag", "https://h/x?token=REDACTED#frag"),
    (f"redis://:{SECRET}@redis:6379/0", "redis://REDACTED@redis:6379/0"),
    (f"/v1/fetch?url=https%3A%2F%2Fh%2Fw%3FX-Amz-Signature%3D{SECRET}%26a%3D1", "%26a%3D1"),
])
def test_redact_removes_credentials_and_keeps_the_rest(text: str, kept: str) -> None:
    redacted = redact(text)
    assert SECRET not in redacted
    assert "REDACTED" in redacted
    assert kept in redacted


def test_redact_leaves_ordinary_keys_alone() -> None:
    for key in ("hf:model/org/name/0123456789abcdef0123456789abcdef01234567/config.json",
                "s3:bucket/dir/weights.safetensors", "http:https://h/a.bin?revision=main"):
        assert redact(key) == key


async def test_presigned_signatures_stay_out_of_status_and_logs(
        proxy: Proxy, upstream: tuple[FakeUpstream, URL], caplog: pytest.LogCaptureFixture) -> None:
    fake, base = upstream
    body = os.urandom(300_000)
    gate = asyncio.Event()
    fake.add("/model.bin", body, gate=gate, chunk=100_000)
    target = URL(str(base / "model.bin") + PRESIGNED, encoded=True)
    with caplog.at_level(logging.INFO):
        async with proxy.session.get(proxy.fetch_url(target)) as download:
            assert download.status == 200
            await download.content.readexactly(1)
            async with proxy.session.get(proxy.server.make_url("/v1/status"), headers=ADMIN) as r:
                status = await r.text()
            gate.set()
            await download.read()
    assert "/model.bin?" in status, "the fill is listed"
    assert SECRET not in status
    lines = [f.format(r) for r in caplog.records for f in (JsonFormatter(), TextFormatter())]
    assert any("model.bin" in line for line in lines), "the fill was logged"
    assert not [line for line in lines if SECRET in line]
