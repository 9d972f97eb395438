"""Triton reading a model repository through the proxy's S3 API
(``--model-repository=s3://http://<proxy>:<s3-port>/<bucket>/<prefix>``).

The Triton server is not installable here, so this test makes, with boto3, the same S3 calls in
the same order as Triton's S3 filesystem, read from triton-inference-server/core at snapshot
73aad7c3 (2026-06-09), ``src/filesystem/implementations/s3.h``:

- the path regex (l. 275-277) ``s3://(http://|https://|)([0-9a-zA-Z\\-.]+):([0-9]+)/([0-9a-z.\\-]+)(((/[0-9a-zA-Z.\\-_]+)*)?)``
  sets ``endpointOverride`` to host:port, path-style addressing, payload signing ``Never``
  (l. 313-333), credentials from ``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY``/``AWS_DEFAULT_REGION``
  or ``AWS_PROFILE`` (l. 104-119);
- ``CheckClient`` (l. 337): HeadBucket;
- ``IsDirectory`` (l. 397): HeadBucket, then ListObjectsV2 with ``prefix=<path>/`` and **no
  delimiter**: a directory is a prefix with at least one key below it;
- ``FileExists`` (l. 357): IsDirectory, else HeadObject, where a 404 (``RESOURCE_NOT_FOUND``) means
  "no such file" and any other error fails;
- ``FileModificationTime`` (l. 442): IsDirectory, else HeadObject's ``LastModified``;
- ``GetDirectoryContents`` (l. 477): ListObjectsV2 ``prefix=<dir>/`` (no delimiter) page by page
  with the continuation token, the names cut at the next ``/``, the ``<dir>/`` marker key skipped;
- ``GetDirectorySubdirs`` (l. 543): contents, then IsDirectory of each;
- ``ReadTextFile`` (l. 591): FileExists, then GetObject;
- ``LocalizePath`` (l. 631): FileExists, IsDirectory, contents, then per entry IsDirectory and
  either mkdir and recurse or GetObject into a local file.

A load in explicit mode (core ``model_repository_manager.cc``, ``model_lifecycle.cc``,
``backend_model.cc:82``) runs: FileExists of the model directory, its content timestamps,
ReadTextFile of ``config.pbtxt``, GetDirectorySubdirs for the versions, LocalizePath of the model
directory. Requests are signed with ``UNSIGNED-PAYLOAD``, as the C++ SDK's ``Never`` policy signs them.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.adapters.s3.conftest import Client, S3Proxy, make_client
from tests.fakes.s3_servers import ACCESS_KEY, SECRET_KEY

TRITON_S3_PATH = re.compile(r"s3://(http://|https://|)([0-9a-zA-Z\-.]+):([0-9]+)/([0-9a-z.\-]+)"
                            r"(((/[0-9a-zA-Z.\-_]+)*)?)")


class TritonS3:
    """Triton's S3FileSystem, call for call, over boto3; ``calls`` records them in order."""

    def __init__(self, repository: str, access_key: str, secret_key: str) -> None:
        match = TRITON_S3_PATH.fullmatch(repository)
        assert match is not None, f"Triton would not parse {repository!r} as an endpoint path"
        scheme, host, port, self.bucket, self.root = match.group(1), match.group(2), match.group(3), match.group(4), \
            match.group(5).lstrip("/")
        # path-style, and payloads unsigned as with the C++ SDK's PayloadSigningPolicy::Never
        self.client = make_client(f"{scheme or 'http://'}{host}:{port}", access_key, secret_key,
                                  s3={"addressing_style": "path", "payload_signing_enabled": False})
        self.calls: list[tuple[str, str]] = []
        self.payload_hashes: set[str] = set()
        self.client.meta.events.register("before-send.s3", self._seen)

    def _seen(self, request: Any, **_: Any) -> None:
        self.payload_hashes.add(request.headers.get("X-Amz-Content-SHA256", b"").decode())

    def _head_bucket(self) -> None:
        self.calls.append(("HeadBucket", self.bucket))
        self.client.head_bucket(Bucket=self.bucket)

    def check_client(self) -> None:
        self._head_bucket()

    def is_directory(self, path: str) -> bool:
        self._head_bucket()
        if not path:
            return True
        self.calls.append(("ListObjectsV2", path + "/"))
        return bool(self.client.list_objects_v2(Bucket=self.bucket, Prefix=path + "/").get("Contents"))

    def file_exists(self, path: str) -> bool:
        if self.is_directory(path):
            return True
        self.calls.append(("HeadObject", path))
        try:
            self.client.head_object(Bucket=self.bucket, Key=path)
        except ClientError as exc:
            if exc.response["Error"]["Code"] not in ("404", "NoSuchKey"):
                raise
            return False
        return True

    def modification_time(self, path: str) -> Any:
        if self.is_directory(path):
            return 0
        self.calls.append(("HeadObject", path))
        return self.client.head_object(Bucket=self.bucket, Key=path)["LastModified"]

    def path_modified_time(self, path: str) -> Any:
        """core ``model_repository_manager.cc`` ``GetPathModifiedTime``: a directory's newest content."""
        is_dir = self.is_directory(path)
        mtime = self.modification_time(path)
        if not is_dir:
            return mtime
        for child in sorted(self.contents(path)):
            self.path_modified_time(f"{path}/{child}")
        return mtime

    def contents(self, path: str) -> set[str]:
        full = path + "/"
        names: set[str] = set()
        token: str | None = None
        while True:
            self.calls.append(("ListObjectsV2", full))
            page = self.client.list_objects_v2(Bucket=self.bucket, Prefix=full,
                                               **({"ContinuationToken": token} if token else {}))
            for item in page.get("Contents", []):
                if item["Key"] == full:
                    continue
                rest = item["Key"][item["Key"].find(full) + len(full):]
                name = rest.split("/", 1)[0]
                assert name, f"Triton fails on an empty item name below {full}"
                names.add(name)
            if not page.get("IsTruncated"):
                return names
            token = page["NextContinuationToken"]

    def subdirs(self, path: str) -> set[str]:
        return {n for n in sorted(self.contents(path)) if self.is_directory(f"{path}/{n}")}  # a std::set: sorted

    def read_text(self, path: str) -> bytes:
        assert self.file_exists(path), f"File does not exist at {path}"
        self.calls.append(("GetObject", path))
        body: bytes = self.client.get_object(Bucket=self.bucket, Key=path)["Body"].read()
        return body

    def localize(self, path: str, local: Path) -> None:
        assert self.file_exists(path)
        assert self.is_directory(path)
        local.mkdir()
        pending = {f"{path}/{name}" for name in sorted(self.contents(path))}
        while pending:
            current, pending = pending, set()
            for item in sorted(current):
                target = local / item[len(path) + 1:]
                if self.is_directory(item):
                    target.mkdir()
                    pending |= {f"{item}/{name}" for name in self.contents(item)}
                else:
                    self.calls.append(("GetObject", item))
                    target.write_bytes(self.client.get_object(Bucket=self.bucket, Key=item)["Body"].read())

    def load(self, model: str, local: Path) -> set[str]:
        """What an explicit-mode load reads; returns the version directory names Triton would see."""
        folder = f"{self.root}/{model}" if self.root else model
        assert self.file_exists(folder), f"failed to load '{model}', failed to poll from model repository"
        self.modification_time(folder)  # ModelTimestamp: the directory, then each entry's newest mtime
        for name in sorted(self.contents(folder)):
            self.path_modified_time(f"{folder}/{name}")
        self.read_text(f"{folder}/config.pbtxt")
        versions = self.subdirs(folder)
        self.localize(folder, local)
        return versions


REPOSITORY = {
    "triton/resnet/config.pbtxt": b'backend: "onnxruntime"\n',
    "triton/resnet/labels.txt": b"cat\ndog\n",
    "triton/resnet/1/model.onnx": b"\x08\x07" * 40000,
    "triton/resnet/2/model.onnx": b"\x08\x09" * 50000,
    "triton/resnet/2/sub/extra.bin": b"x" * 10,
    "triton/resnet/": b"",  # a "directory marker" some uploaders write
    "triton/bert/config.pbtxt": b'backend: "python"\n',
    "triton/bert/1/model.py": b"print()\n",
}


@pytest.fixture
async def s3_root(start_s3: Callable[..., Awaitable[S3Proxy]], direct: Client, bucket: str) -> tuple[S3Proxy, str]:
    for key, body in REPOSITORY.items():
        direct.put_object(Bucket=bucket, Key=key, Body=body)
    s3 = await start_s3(s3_port=0)
    return s3, f"s3://http://127.0.0.1:{s3.frontend.bound_port}/{bucket}/triton"


async def test_triton_loads_a_model_through_the_proxy_byte_exact_and_from_the_cache_the_second_time(
        s3_root: tuple[S3Proxy, str], bucket: str, tmp_path: Path) -> None:
    s3, url = s3_root
    triton = TritonS3(url, ACCESS_KEY, SECRET_KEY)
    await asyncio.to_thread(triton.check_client)
    models = await asyncio.to_thread(triton.subdirs, "triton")
    assert models == {"resnet", "bert"}
    versions = await asyncio.to_thread(triton.load, "resnet", tmp_path / "first")
    assert versions == {"1", "2"}
    local = {p.relative_to(tmp_path / "first").as_posix(): p.read_bytes()
             for p in (tmp_path / "first").rglob("*") if p.is_file()}
    assert local == {k.removeprefix("triton/resnet/"): v for k, v in REPOSITORY.items()
                     if k.startswith("triton/resnet/") and not k.endswith("/")}
    assert triton.payload_hashes == {"UNSIGNED-PAYLOAD"}
    kinds = [kind for kind, _ in triton.calls]
    assert set(kinds) == {"HeadBucket", "ListObjectsV2", "HeadObject", "GetObject"}
    assert s3.relay.count("GET", f"/{bucket}/triton/resnet/2/model.onnx") == 1
    await asyncio.to_thread(triton.load, "resnet", tmp_path / "second")
    assert s3.relay.count("GET", f"/{bucket}/triton/resnet/2/model.onnx") == 1  # served from the cache
    assert (tmp_path / "second" / "2" / "model.onnx").read_bytes() == REPOSITORY["triton/resnet/2/model.onnx"]


async def test_what_triton_needs_to_tell_files_from_directories_and_missing_models(
        s3_root: tuple[S3Proxy, str], bucket: str) -> None:
    _, url = s3_root
    triton = TritonS3(url, ACCESS_KEY, SECRET_KEY)
    assert await asyncio.to_thread(triton.is_directory, "triton/resnet/1")
    assert not await asyncio.to_thread(triton.is_directory, "triton/resnet/config.pbtxt")
    assert await asyncio.to_thread(triton.file_exists, "triton/resnet/config.pbtxt")
    assert not await asyncio.to_thread(triton.file_exists, "triton/nope")  # HeadObject 404, not an error
    assert not await asyncio.to_thread(triton.is_directory, "triton/resn")  # a prefix of a name is no directory
    with pytest.raises(AssertionError, match="failed to poll from model repository"):
        await asyncio.to_thread(triton.load, "nope", Path("/nonexistent"))
    wrong = TritonS3(url.replace(f"/{bucket}/", "/no-such-bucket/"), ACCESS_KEY, SECRET_KEY)
    with pytest.raises(ClientError) as caught:
        await asyncio.to_thread(wrong.check_client)
    assert caught.value.response["Error"]["Code"] == "404"
    stranger = TritonS3(url, "AKIDSTRANGER", "wrong")
    with pytest.raises(ClientError) as denied:
        await asyncio.to_thread(stranger.check_client)
    assert denied.value.response["Error"]["Code"] == "403"


async def test_localizing_a_model_makes_tritons_calls_in_tritons_order(s3_root: tuple[S3Proxy, str],
                                                                       tmp_path: Path) -> None:
    _, url = s3_root
    triton = TritonS3(url, ACCESS_KEY, SECRET_KEY)
    await asyncio.to_thread(triton.localize, "triton/bert", tmp_path / "bert")
    b, lst, head, get = "HeadBucket", "ListObjectsV2", "HeadObject", "GetObject"
    bucket = triton.bucket
    assert triton.calls == [
        (b, bucket), (lst, "triton/bert/"),  # FileExists -> IsDirectory: yes
        (b, bucket), (lst, "triton/bert/"),  # IsDirectory
        (lst, "triton/bert/"),  # GetDirectoryContents: {"1", "config.pbtxt"}
        (b, bucket), (lst, "triton/bert/1/"), (lst, "triton/bert/1/"),  # a directory: mkdir, list it
        (b, bucket), (lst, "triton/bert/config.pbtxt/"), (get, "triton/bert/config.pbtxt"),  # a file
        (b, bucket), (lst, "triton/bert/1/model.py/"), (get, "triton/bert/1/model.py"),
    ]
    assert head not in {kind for kind, _ in triton.calls}
    assert (tmp_path / "bert" / "1" / "model.py").read_bytes() == REPOSITORY["triton/bert/1/model.py"]


@pytest.mark.parametrize(("path", "parsed"), [
    ("s3://http://modelmanager:9000/models/triton", True),
    ("s3://https://modelmanager.ns.svc:9443/models/prod/triton", True),
    ("s3://modelmanager:9000/models/triton", True),
    ("s3://http://modelmanager/models/triton", False),  # no port: Triton takes "http:" as the bucket
    ("s3://http://modelmanager:9000/Models/triton", False),  # upper case is not a bucket name to Triton
    ("s3://http://modelmanager:9000/models/my model", False),  # a space in the path
])
def test_the_repository_path_forms_triton_accepts(path: str, parsed: bool) -> None:
    assert (TRITON_S3_PATH.fullmatch(path) is not None) == parsed

