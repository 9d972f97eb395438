"""runai-model-streamer (its C++ CRT client for tensor bytes, boto3 for the rest) through the S3 port."""

from __future__ import annotations

import asyncio
import hashlib
import os
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from urllib.parse import quote

import numpy as np
import pytest
from safetensors.numpy import save_file

from tests.adapters.s3.conftest import Client, S3Proxy
from tests.fakes.s3_servers import ACCESS_KEY, SECRET_KEY

pytest.importorskip("runai_model_streamer", reason="runai-model-streamer is part of the test extras")

STREAM = """
import hashlib, sys
from runai_model_streamer import SafetensorsStreamer
digest = hashlib.sha256()
with SafetensorsStreamer() as streamer:
    streamer.stream_files([sys.argv[1]])
    for name, tensor in sorted(streamer.get_tensors(), key=lambda item: item[0]):
        digest.update(name.encode())
        digest.update(tensor.numpy().tobytes())
print("DIGEST", digest.hexdigest())
"""


async def test_safetensors_streamer_reads_through_the_cache(start_s3: Callable[..., Awaitable[S3Proxy]],
                                                            direct: Client, bucket: str, tmp_path: Path) -> None:
    s3 = await start_s3(s3_port=0)
    rng = np.random.default_rng(0)
    tensors = {f"layer{i}.weight": rng.standard_normal((512, 1024)).astype(np.float32) for i in range(6)}
    save_file(tensors, str(tmp_path / "model.safetensors"), metadata={"format": "pt"})
    direct.upload_file(str(tmp_path / "model.safetensors"), bucket, "tiny/model.safetensors")
    expected = hashlib.sha256()
    for name in sorted(tensors):
        expected.update(name.encode())
        expected.update(tensors[name].tobytes())

    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "RUNAI_"))}
    env.update(AWS_ENDPOINT_URL=f"http://127.0.0.1:{s3.frontend.bound_port}", AWS_ACCESS_KEY_ID=ACCESS_KEY,
               AWS_SECRET_ACCESS_KEY=SECRET_KEY, AWS_DEFAULT_REGION="us-east-1", AWS_EC2_METADATA_DISABLED="true",
               RUNAI_STREAMER_S3_USE_VIRTUAL_ADDRESSING="0", RUNAI_STREAMER_LOG_TO_STDERR="1",
               RUNAI_STREAMER_LOG_LEVEL="DEBUG")
    for _ in range(2):  # cold, then warm
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-c", STREAM, f"s3://{bucket}/tiny/model.safetensors", env=env,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
        out, _ = await proc.communicate()
        errors = [line for line in out.decode().splitlines() if "ERROR" in line or "Error" in line]
        assert proc.returncode == 0, "\n".join(errors)[-4000:]
        assert f"DIGEST {expected.hexdigest()}" in out.decode()
    path = f"/{bucket}/{quote('tiny/model.safetensors')}"
    assert s3.relay.count("GET", path) == 1, "one upstream body fetch for all of runai's ranged reads"
