"""Region discovery: a bucket routed without (or with the wrong) region is corrected once from S3's
wrong-region answer and remembered. The upstream is a real HTTP server that answers as S3 does
for a request signed for another region (301 PermanentRedirect with ``x-amz-bucket-region``, or 400
AuthorizationHeaderMalformed with ``<Region>``) and forwards everything else to moto."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from botocore.exceptions import ClientError
from yarl import URL

from adapters.s3.regions import from_answer, regional_url
from tests.adapters.s3.conftest import Client, make_client
from tests.conftest import Proxy, ServerFactory
from tests.fakes.s3_servers import ACCESS_KEY, HOP, SECRET_KEY, MotoServer


@dataclass
class RegionalS3:
    """Buckets live in ``homes[bucket]``; requests signed for another region get S3's answer."""

    target: str
    homes: dict[str, str]
    style: str = "redirect"
    signed_regions: list[tuple[str, str, int]] = field(default_factory=list)
    _session: aiohttp.ClientSession | None = None

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        app.on_cleanup.append(self._close)
        return app

    async def _close(self, app: web.Application) -> None:
        if self._session is not None:
            await self._session.close()

    def wrong(self) -> int:
        return sum(1 for _, _, status in self.signed_regions if status in (301, 400))

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        bucket = request.path.lstrip("/").partition("/")[0]
        region = request.headers.get("Authorization", "").partition("Credential=")[2].split("/")[2]
        home = self.homes.get(bucket, "us-east-1")
        if region != home:
            self.signed_regions.append((bucket, region, 301 if self.style == "redirect" else 400))
            return self._wrong_region(request, bucket, region, home)
        self.signed_regions.append((bucket, region, 200))
        if self._session is None:
            self._session = aiohttp.ClientSession(auto_decompress=False)
        headers = {k: v for k, v in request.headers.items() if k.lower() not in HOP}
        async with self._session.request(request.method, URL(self.target + request.raw_path, encoded=True),
                                         headers=headers, data=await request.read() or None,
                                         skip_auto_headers=("Accept-Encoding", "Content-Type")) as upstream:
            body = await upstream.read()
            out = {k: v for k, v in upstream.headers.items() if k.lower() not in HOP | {"content-length"}}
            return web.Response(status=upstream.status, body=body if request.method != "HEAD" else None,
                                headers=out)

    def _wrong_region(self, request: web.Request, bucket: str, region: str, home: str) -> web.Response:
        if self.style == "redirect":
            status, headers = 301, {"x-amz-bucket-region": home}
            xml = (f"<Error><Code>PermanentRedirect</Code><Message>The bucket you are attempting to access must be "
                   f"addressed using the specified endpoint.</Message><Endpoint>{bucket}.s3.{home}.amazonaws.com"
                   f"</Endpoint><Bucket>{bucket}</Bucket></Error>")
        else:
            status, headers = 400, {"x-amz-bucket-region": home} if request.method == "HEAD" else {}
            xml = (f"<Error><Code>AuthorizationHeaderMalformed</Code><Message>The authorization header is malformed; "
                   f"the region '{region}' is wrong; expecting '{home}'</Message><Region>{home}</Region></Error>")
        if request.method == "HEAD":
            return web.Response(status=status, headers=headers)
        return web.Response(status=status, body=('<?xml version="1.0" encoding="UTF-8"?>\n' + xml).encode(),
                            content_type="application/xml", headers=headers)


@pytest.fixture
async def regional(moto: MotoServer, aiohttp_server: ServerFactory) -> tuple[RegionalS3, str]:
    fake = RegionalS3(moto.url, {})
    server = await aiohttp_server(fake.app())
    return fake, str(server.make_url("")).rstrip("/")


@pytest.mark.parametrize("style", ["redirect", "malformed"])
async def test_a_bucket_in_another_region_is_corrected_once(
        regional: tuple[RegionalS3, str], start_proxy: Callable[..., Awaitable[Proxy]], direct: Client,
        bucket: str, tmp_path: Path, style: str) -> None:
    fake, url = regional
    fake.style = style
    fake.homes[bucket] = "eu-west-1"
    for key in ("a.bin", "b.bin"):
        direct.put_object(Bucket=bucket, Key=key, Body=key.encode() * 1000)
    routes = tmp_path / "routes.yaml"
    routes.write_text(f"buckets:\n  {bucket}:\n    upstream: {url}\n    region: us-west-2\n"
                      "    credentials: {access_key_id_env: EU_KEY_ID, secret_access_key_env: EU_SECRET}\n")
    os_env = {"EU_KEY_ID": "upstream-key", "EU_SECRET": "upstream-secret"}
    with pytest.MonkeyPatch.context() as env:
        for name, value in os_env.items():
            env.setenv(name, value)
        proxy = await start_proxy(s3_routes=routes, s3_client_keys=f"{ACCESS_KEY}:{SECRET_KEY}")
    client = make_client(str(proxy.server.make_url("/s3")))

    head = await asyncio.to_thread(client.head_object, Bucket=bucket, Key="a.bin")
    assert head["ContentLength"] == 5000
    assert fake.wrong() == 1
    for key in ("a.bin", "b.bin"):
        got = await asyncio.to_thread(client.get_object, Bucket=bucket, Key=key)
        assert await asyncio.to_thread(got["Body"].read) == key.encode() * 1000
    listed = await asyncio.to_thread(client.list_objects_v2, Bucket=bucket)
    assert [o["Key"] for o in listed["Contents"]] == ["a.bin", "b.bin"]
    assert fake.wrong() == 1, "the region was remembered for the bucket"
    assert {r for _, r, status in fake.signed_regions if status == 200} == {"eu-west-1"}

    with pytest.raises(ClientError) as exc:
        await asyncio.to_thread(client.get_object, Bucket="not-routed", Key="a.bin")
    assert exc.value.response["Error"]["Code"] == "NoSuchBucket"


def test_wrong_region_answers_are_read_like_botocore_reads_them() -> None:
    assert from_answer(301, {"x-amz-bucket-region": "eu-west-1"}, b"").region == "eu-west-1"
    body = b"<Error><Code>AuthorizationHeaderMalformed</Code><Region>ap-south-1</Region></Error>"
    assert from_answer(400, {}, body).region == "ap-south-1"
    other = b"<Error><Code>InvalidArgument</Code><Region>ap-south-1</Region></Error>"
    assert from_answer(400, {}, other).region is None
    assert from_answer(400, {}, b"not xml").region is None
    assert from_answer(301, {"x-amz-bucket-region": "../evil"}, b"").region is None
    aws = URL("https://s3.us-east-1.amazonaws.com")
    assert regional_url(aws, "eu-west-1") == URL("https://s3.eu-west-1.amazonaws.com")
    assert regional_url(URL("https://s3.amazonaws.com/"), "eu-west-1").host == "s3.eu-west-1.amazonaws.com"
    assert regional_url(URL("http://minio.lan:9000"), "eu-west-1") == URL("http://minio.lan:9000")
