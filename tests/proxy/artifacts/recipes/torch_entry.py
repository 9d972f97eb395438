"""An entry point for the ``torch-compile-cache`` recipe: a small MLP whose weights are the source file."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch


def mlp_state(seed: int = 14) -> dict[str, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    return {"0.weight": torch.randn(64, 32, generator=generator), "0.bias": torch.randn(64, generator=generator),
            "2.weight": torch.randn(16, 64, generator=generator), "2.bias": torch.randn(16, generator=generator)}


def mlp(sources: Sequence[Path], device: str) -> tuple[torch.nn.Module, tuple[torch.Tensor, ...]]:
    """``Linear(32, 64) -> GELU -> Linear(64, 16)`` loaded from ``sources[0]``; one batch of 8 inputs."""
    model = torch.nn.Sequential(torch.nn.Linear(32, 64), torch.nn.GELU(), torch.nn.Linear(64, 16))
    model.load_state_dict(torch.load(sources[0], weights_only=True))
    return model.to(device).eval(), (torch.ones(8, 32, device=device),)
