"""Upstream S3 credentials from botocore's chain, with real providers: IRSA (a web identity token file
exchanged at moto's STS with AssumeRoleWithWebIdentity) and a ``credential_process`` handing out
short-lived keys, refreshed while a fill is interrupted and resumed."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from yarl import URL

from adapters.s3.xmldoc import fields, parse
from tests.adapters.s3.conftest import Client, S3Proxy
from tests.conftest import ServerFactory
from tests.fakes.s3_servers import HOP, CountingRelay, MotoServer

MiB = 1 << 20
ROLE = "arn:aws:iam::123456789012:role/model-reader"


def signer(headers: dict[str, str]) -> tuple[str, str | None]:
    """The access key a relayed request was signed with, and its security token."""
    auth = headers.get("Authorization", "")
    return auth.partition("Credential=")[2].partition("/")[0], headers.get("X-Amz-Security-Token")


@dataclass
class StsRelay:
    """Forwards to moto's STS and keeps the credentials each answer handed out."""

    target: str
    issued: list[dict[str, str]] = field(default_factory=list)
    actions: list[str] = field(default_factory=list)
    signers: list[str] = field(default_factory=list)

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        return app

    async def _handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        self.actions.append(dict(x.split("=", 1) for x in body.decode().split("&") if "=" in x).get("Action", ""))
        headers = {k: v for k, v in request.headers.items() if k.lower() not in HOP}
        self.signers.append(signer(headers)[0])
        async with aiohttp.ClientSession() as session, session.request(
                request.method, URL(self.target + request.raw_path, encoded=True), headers=headers,
                data=body) as upstream:
            answer = await upstream.read()
            if upstream.status == 200:
                creds = next(node for node in parse(answer).iter() if node.tag.endswith("Credentials"))
                self.issued.append(fields(creds))
            return web.Response(status=upstream.status, body=answer,
                                content_type=upstream.headers.get("Content-Type", "text/xml").split(";")[0])


@pytest.fixture
async def sts(moto: MotoServer, aiohttp_server: ServerFactory) -> tuple[StsRelay, str]:
    relay = StsRelay(moto.url)
    server = await aiohttp_server(relay.app())
    return relay, str(server.make_url("")).rstrip("/")


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> pytest.MonkeyPatch:
    """An AWS environment with nothing in it: no keys, no files, no instance metadata."""
    for name in list(os.environ):
        if name.startswith("AWS_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "aws-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    return monkeypatch


async def test_irsa_web_identity_token_is_exchanged_at_sts_once(
        aws_env: pytest.MonkeyPatch, sts: tuple[StsRelay, str], start_s3: Callable[..., Awaitable[S3Proxy]],
        direct: Client, bucket: str, tmp_path: Path) -> None:
    token = tmp_path / "token"
    token.write_text("eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJzeXN0ZW06c2VydmljZWFjY291bnQ6bWw6cHJveHkifQ.c2ln")
    aws_env.setenv("AWS_WEB_IDENTITY_TOKEN_FILE", str(token))
    aws_env.setenv("AWS_ROLE_ARN", ROLE)
    aws_env.setenv("AWS_ROLE_SESSION_NAME", "modelmanager")
    aws_env.setenv("AWS_ENDPOINT_URL_STS", sts[1])
    for i in range(3):
        direct.put_object(Bucket=bucket, Key=f"m/{i}.bin", Body=bytes([i]) * 1000)
    s3 = await start_s3(s3_upstream_access_key_id=None, s3_upstream_secret_access_key=None)
    client = s3.client()

    def read(i: int) -> bytes:
        data: bytes = client.get_object(Bucket=bucket, Key=f"m/{i}.bin")["Body"].read()
        return data

    assert await asyncio.gather(*(asyncio.to_thread(read, i) for i in range(3))) == [bytes([i]) * 1000
                                                                                      for i in range(3)]
    listed = await asyncio.to_thread(client.list_objects_v2, Bucket=bucket, Prefix="m/")
    assert len(listed["Contents"]) == 3

    assert sts[0].actions == ["AssumeRoleWithWebIdentity"]
    issued = sts[0].issued[0]
    assert issued["AccessKeyId"].startswith("ASIA")
    signed = {signer(r.headers) for r in s3.relay.requests}
    assert signed == {(issued["AccessKeyId"], issued["SessionToken"])}, "every upstream request carries the role"


async def test_a_route_assumes_its_role_with_the_profile_credentials(
        aws_env: pytest.MonkeyPatch, sts: tuple[StsRelay, str], start_s3: Callable[..., Awaitable[S3Proxy]],
        relay: tuple[CountingRelay, str], direct: Client, bucket: str, tmp_path: Path) -> None:
    (tmp_path / "aws-credentials").write_text("[base]\naws_access_key_id = AKIABASE\n"
                                              "aws_secret_access_key = base-secret\n")
    aws_env.setenv("AWS_ENDPOINT_URL_STS", sts[1])
    routes = tmp_path / "routes.yaml"
    routes.write_text(f"buckets:\n  {bucket}:\n    upstream: {relay[1]}\n    credentials:\n"
                      f"      profile: base\n      role_arn: {ROLE}\n")
    direct.put_object(Bucket=bucket, Key="m.bin", Body=b"role")
    s3 = await start_s3(s3_routes=routes)
    got = await asyncio.to_thread(s3.client().get_object, Bucket=bucket, Key="m.bin")
    assert await asyncio.to_thread(got["Body"].read) == b"role"
    assert (sts[0].actions, sts[0].signers) == (["AssumeRole"], ["AKIABASE"])
    issued = sts[0].issued[0]
    assert {signer(r.headers) for r in s3.relay.requests} == {(issued["AccessKeyId"], issued["SessionToken"])}


CREDENTIAL_PROCESS = """\
import json, sys
from datetime import datetime, timedelta, timezone
counter, lifetime = sys.argv[1], float(sys.argv[2])
try:
    n = int(open(counter).read()) + 1
except FileNotFoundError:
    n = 1
open(counter, "w").write(str(n))
expires = datetime.now(timezone.utc) + timedelta(seconds=lifetime)
print(json.dumps({"Version": 1, "AccessKeyId": f"AKIASHORT{n:04d}", "SecretAccessKey": f"secret-{n}",
                  "SessionToken": f"token-{n}", "Expiration": expires.isoformat()}))
"""


async def test_expiring_credentials_are_refreshed_and_the_fill_resumes_with_them(
        aws_env: pytest.MonkeyPatch, start_s3: Callable[..., Awaitable[S3Proxy]], direct: Client, bucket: str,
        tmp_path: Path) -> None:
    script = tmp_path / "creds.py"
    script.write_text(CREDENTIAL_PROCESS)
    # 301 s: inside the proxy's 300 s refresh margin one second after being handed out.
    (tmp_path / "aws-config").write_text(
        f"[profile short]\ncredential_process = {sys.executable} {script} {tmp_path / 'count'} 301\n")
    body = os.urandom(8 * MiB)
    direct.put_object(Bucket=bucket, Key="big.bin", Body=body)
    s3 = await start_s3(s3_upstream_access_key_id=None, s3_upstream_secret_access_key=None,
                        s3_upstream_profile="short", upstream_read_timeout=1.5)
    s3.relay.gate = asyncio.Event()  # the first body stalls after its first chunk: the fill drops it and resumes
    resumed = asyncio.Event()
    s3.relay.seen = lambda r: resumed.set() if s3.relay.count("GET", f"/{bucket}/big.bin") == 2 else None

    def read() -> bytes:
        data: bytes = s3.client().get_object(Bucket=bucket, Key="big.bin")["Body"].read()
        return data

    reading = asyncio.ensure_future(asyncio.to_thread(read))
    try:
        await asyncio.wait_for(resumed.wait(), 30)
    finally:
        s3.relay.gate.set()
    assert await reading == body
    gets = [r for r in s3.relay.requests if r.method == "GET" and r.raw_path == f"/{bucket}/big.bin"]
    first, second = (signer(r.headers) for r in gets[:2])
    assert "Range" not in gets[0].headers
    assert gets[1].headers["Range"].startswith("bytes=")
    assert first != second, "the resumed request is signed with the refreshed key"
    for key, token in (first, second):
        assert key.startswith("AKIASHORT")
        assert token == f"token-{int(key.removeprefix('AKIASHORT'))}"
    assert int((tmp_path / "count").read_text()) >= 2
