"""The model of ``bench/gpu_artifact_nodes.py``: an entry point for the ``torch-compile-cache`` recipe.

``build(sources, device)`` returns a stack of transformer-like MLP blocks (LayerNorm, Linear, GELU,
Linear, residual) loaded from ``sources[0]`` (a ``torch.save`` state dict) and one batch of inputs.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

LAYERS_ENV = "BENCH_TORCH_LAYERS"
WIDTH_ENV = "BENCH_TORCH_WIDTH"


def _net(layers: int, width: int) -> Any:
    import torch

    class Block(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.norm = torch.nn.LayerNorm(width)
            self.up = torch.nn.Linear(width, 4 * width)
            self.down = torch.nn.Linear(4 * width, width)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            hidden: torch.Tensor = self.down(torch.nn.functional.gelu(self.up(self.norm(x))))
            return x + hidden

    return torch.nn.Sequential(*(Block() for _ in range(layers)))


def shape() -> tuple[int, int]:
    return int(os.environ.get(LAYERS_ENV, "8")), int(os.environ.get(WIDTH_ENV, "256"))


def write_state(path: Path, layers: int, width: int) -> None:
    import torch

    torch.manual_seed(0)
    torch.save(_net(layers, width).state_dict(), path)


def build(sources: Sequence[Path], device: str) -> tuple[Any, tuple[Any, ...]]:
    import torch

    layers, width = shape()
    model = _net(layers, width)
    model.load_state_dict(torch.load(sources[0], weights_only=True))
    generator = torch.Generator().manual_seed(1)
    return model.to(device).eval(), (torch.randn(16, width, generator=generator).to(device),)
