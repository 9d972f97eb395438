"""The aws CLI and s3fs through the proxy: recursive copies, sync, ls/cat/get; byte-exact."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import s3fs

from tests.adapters.s3.conftest import Client, S3Proxy
from tests.fakes.s3_servers import ACCESS_KEY, SECRET_KEY, iter_files

MiB = 1 << 20
AWS = str(Path(sys.executable).parent / "aws")

FOLDER = {
    "tiny-llm/config.json": b'{"model_type": "llama"}',
    "tiny-llm/model.safetensors": os.urandom(9 * MiB + 7),
    "tiny-llm/sub dir/weird+name=1.txt": b"weird",
    "tiny-llm/tokenizer ü.json": b"{}",
}


def populate(direct: Client, bucket: str) -> None:
    for key, body in FOLDER.items():
        direct.put_object(Bucket=bucket, Key=key, Body=body)


async def aws(s3: S3Proxy, tmp_path: Path, *args: str) -> None:
    env = {"PATH": os.environ.get("PATH", ""), "HOME": str(tmp_path), "AWS_ACCESS_KEY_ID": ACCESS_KEY,
           "AWS_SECRET_ACCESS_KEY": SECRET_KEY, "AWS_DEFAULT_REGION": "us-east-1",
           "AWS_ENDPOINT_URL": s3.endpoint, "AWS_EC2_METADATA_DISABLED": "true",
           "AWS_CONFIG_FILE": "/dev/null", "AWS_SHARED_CREDENTIALS_FILE": "/dev/null"}
    process = await asyncio.create_subprocess_exec(AWS, *args, env=env, stdout=asyncio.subprocess.PIPE,
                                                   stderr=asyncio.subprocess.PIPE)
    out, err = await process.communicate()
    assert process.returncode == 0, (out + err).decode()


async def test_aws_cli_cp_recursive_and_sync(s3: S3Proxy, direct: Client, bucket: str, tmp_path: Path) -> None:
    populate(direct, bucket)
    want = {k.removeprefix("tiny-llm/"): v for k, v in FOLDER.items()}
    await aws(s3, tmp_path, "s3", "cp", "--recursive", "--only-show-errors", f"s3://{bucket}/tiny-llm/",
              str(tmp_path / "cp"))
    assert dict(iter_files(tmp_path / "cp")) == want
    await aws(s3, tmp_path, "s3", "sync", "--only-show-errors", f"s3://{bucket}/tiny-llm/", str(tmp_path / "sync"))
    assert dict(iter_files(tmp_path / "sync")) == want
    for key in FOLDER:
        encoded = "/" + bucket + "/" + key.replace(" ", "%20").replace("+", "%2B").replace("=", "%3D")
        if key.isascii():
            assert s3.relay.count("GET", encoded) == 1, key
    assert sum(1 for r in s3.relay.requests if r.method == "GET" and "list-type" not in r.raw_path) == 4


async def test_s3fs_ls_cat_get(s3: S3Proxy, direct: Client, bucket: str, tmp_path: Path) -> None:
    populate(direct, bucket)
    fs = s3fs.S3FileSystem(key=ACCESS_KEY, secret=SECRET_KEY, endpoint_url=s3.endpoint, skip_instance_cache=True,
                           client_kwargs={"region_name": "us-east-1"})

    def run() -> None:
        listed = sorted(fs.ls(f"{bucket}/tiny-llm/"))
        assert listed == sorted([f"{bucket}/tiny-llm/config.json", f"{bucket}/tiny-llm/model.safetensors",
                                 f"{bucket}/tiny-llm/sub dir", f"{bucket}/tiny-llm/tokenizer ü.json"])
        assert fs.cat(f"{bucket}/tiny-llm/config.json") == FOLDER["tiny-llm/config.json"]
        body = FOLDER["tiny-llm/model.safetensors"]
        assert fs.cat_file(f"{bucket}/tiny-llm/model.safetensors", start=5, end=105) == body[5:105]
        with fs.open(f"{bucket}/tiny-llm/model.safetensors", "rb") as f:
            f.seek(MiB)
            assert f.read(1000) == body[MiB:MiB + 1000]
        fs.get(f"{bucket}/tiny-llm/", str(tmp_path / "got") + "/", recursive=True)
        assert sorted(fs.find(f"{bucket}/tiny-llm/")) == sorted(f"{bucket}/{k}" for k in FOLDER)

    await asyncio.to_thread(run)
    assert dict(iter_files(tmp_path / "got")) == {k.removeprefix("tiny-llm/"): v for k, v in FOLDER.items()}
