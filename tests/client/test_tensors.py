"""load_safetensors: tensor for tensor what safetensors.torch.load_file gives, from a local file,
through the proxy over HTTP, and on the GPU when there is one."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from modelmanager_client import DownloadInfo, load_safetensors
from modelmanager_client.ranged import FileRanges
from modelmanager_client.tensors import parse_header
from tests.client.conftest import blocking, host
from tests.conftest import Proxy
from tests.fakes.fake_hub import FakeHub


def make_tensors() -> dict[str, torch.Tensor]:
    """Mixed dtypes and shapes, odd lengths (so some tensors start unaligned for their dtype)."""
    g = torch.Generator().manual_seed(7)
    return {
        "embed.weight": torch.randn(300, 17, generator=g),
        "odd.int8": torch.randint(-128, 127, (1001,), dtype=torch.int8, generator=g),
        "half": torch.randn(33, 5, generator=g).half(),
        "bf16": torch.randn(7, 9, generator=g).to(torch.bfloat16),
        "ids": torch.arange(12345, dtype=torch.int64).reshape(5, 2469),
        "mask": torch.rand(77, generator=g) > 0.5,
        "scalar": torch.tensor(3.5, dtype=torch.float64),
        "empty": torch.empty(0, 4),
    }


def assert_same(got: dict[str, torch.Tensor], want: dict[str, torch.Tensor]) -> None:
    assert got.keys() == want.keys()
    for name, tensor in want.items():
        assert got[name].dtype == tensor.dtype, name
        assert got[name].shape == tensor.shape, name
        assert torch.equal(got[name].cpu(), tensor), name


@pytest.fixture
def weights(tmp_path: Path) -> Path:
    path = tmp_path / "model.safetensors"
    save_file(make_tensors(), str(path), metadata={"format": "pt"})
    return path


def test_header_is_parsed_from_the_file(weights: Path) -> None:
    source = FileRanges(weights, weights.stat().st_size)
    try:
        header = parse_header(source)
    finally:
        source.close()
    assert header.metadata == {"format": "pt"}
    assert set(header.tensors) == set(make_tensors())
    assert header.data_start + header.data_length == weights.stat().st_size


def test_local_file_equals_load_file(weights: Path) -> None:
    assert_same(load_safetensors(weights), load_file(str(weights)))


async def test_over_http_from_the_proxy_equals_load_file(hf_proxy: Callable[..., Awaitable[Proxy]], hub: FakeHub,
                                                        weights: Path, caplog: pytest.LogCaptureFixture) -> None:
    proxy = await hf_proxy()
    hub.create("org/w").commit({"model.safetensors": weights.read_bytes()})
    info = DownloadInfo("org/w", "model.safetensors", host=host(proxy))
    with caplog.at_level(logging.INFO, logger="modelmanager_client.transport"):
        got = await blocking(load_safetensors, info, connections_per_file=3)
    assert_same(got, load_file(str(weights)))
    assert "http (" in caplog.text


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device on this machine (bench/gpu_client.py "
                    "measures the GPU path on a GPU node)")
def test_cuda_equals_load_file_on_the_gpu(weights: Path) -> None:
    got = load_safetensors(weights, device="cuda:0")
    assert all(t.device.type == "cuda" for t in got.values())
    assert_same(got, load_file(str(weights)))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device on this machine (bench/gpu_client.py "
                    "measures the GPU path on a GPU node)")
async def test_cuda_over_http_equals_load_file(hf_proxy: Callable[..., Awaitable[Proxy]], hub: FakeHub,
                                               weights: Path) -> None:
    proxy = await hf_proxy()
    hub.create("org/g").commit({"model.safetensors": weights.read_bytes()})
    got = await blocking(load_safetensors, DownloadInfo("org/g", "model.safetensors", host=host(proxy)),
                         device="cuda:0", connections_per_file=3)
    assert_same(got, load_file(str(weights)))
